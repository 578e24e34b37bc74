import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureDebianPackages, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const monitoring = fileURLToPath(new URL('../deploy/monitoring/', import.meta.url));
const dir = tempDir('monitoring');

interface Panel {
  title: string;
  panels?: Panel[];
  targets?: { expr: string }[];
}

/** Every PromQL expression of the dashboard, with Grafana's variables given values. */
function dashboardExpressions(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(monitoring, 'dashboard.json'), 'utf8')) as {
    panels: Panel[];
  };
  const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return all.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      title: p.title,
      expr: t.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'),
    })),
  );
}

beforeAll(() => {
  ensureDebianPackages({ promtool: 'prometheus' });
});

afterAll(() => dir.remove());

describe('deploy/monitoring', () => {
  it('alert rules pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'alerts.yaml'], {
      cwd: monitoring,
    });
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('alert rules pass their unit tests (promtool test rules)', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', 'alerts.test.yaml'], {
      cwd: monitoring,
    });
    expect(stdout).toContain('SUCCESS');
  });

  it('every dashboard query is valid PromQL', async () => {
    const expressions = dashboardExpressions();
    expect(expressions.length).toBeGreaterThan(15);
    // promtool checks expressions inside rule files: each query becomes a recording rule.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: expressions.map(({ expr }, i) => ({ record: `dashboard:query${i}`, expr })),
        },
      ],
    };
    const file = join(dir.path, 'dashboard-rules.json');
    writeFileSync(file, JSON.stringify(rules));
    const { stdout } = await run('promtool', ['check', 'rules', file]);
    expect(stdout).toContain(`SUCCESS: ${expressions.length} rules found`);
  });
});
