import { describe, expect, it } from 'vitest';
import { localErrorCode } from '../src/local-errors.js';

const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('localErrorCode', () => {
  it("names the node's own resource errors, also when wrapped as a cause", () => {
    expect(localErrorCode(errno('EMFILE'))).toBe('EMFILE');
    expect(localErrorCode(errno('EADDRNOTAVAIL'))).toBe('EADDRNOTAVAIL');
    expect(localErrorCode(new Error('probe', { cause: errno('ENFILE') }))).toBe('ENFILE');
  });

  it("leaves a backend's failures to the backend", () => {
    expect(localErrorCode(errno('ECONNREFUSED'))).toBeUndefined();
    expect(localErrorCode(errno('ETIMEDOUT'))).toBeUndefined();
    expect(localErrorCode(new Error('no answer within 3000 ms'))).toBeUndefined();
    expect(localErrorCode('EMFILE')).toBeUndefined();
  });
});
