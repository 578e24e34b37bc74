import type { Socket } from 'node:net';

/**
 * Closes a client that takes longer than `ms` to finish a command line, from the line's first
 * byte, until `over()` says the deadline no longer applies (a transaction has begun). A
 * client trickling a byte at a time keeps smtp-server's idle timer alive; this does not.
 * It reads the bytes smtp-server reads, so it sees the plaintext dialogue only (implicit TLS
 * included, not the part after STARTTLS; the idle timeout stays for that).
 */
export function lineDeadline(
  socket: Socket,
  ms: number,
  over: () => boolean,
  onTimeout: () => void,
): void {
  if (ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
    socket.off('data', onData);
  };
  const start = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stop();
      onTimeout();
    }, ms);
  };
  function onData(chunk: Buffer) {
    if (over()) return stop();
    const lf = chunk.lastIndexOf(0x0a);
    if (lf === chunk.length - 1) {
      clearTimeout(timer);
      timer = undefined;
    } else if (lf >= 0 || timer === undefined) start();
  }
  socket.on('data', onData);
  socket.once('close', stop);
}
