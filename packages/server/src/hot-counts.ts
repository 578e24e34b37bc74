import type { Counter } from 'prom-client';

/**
 * The figures every session adds to, kept as plain numbers per label set and given to
 * prom-client only when it is scraped: prom-client hashes a set's labels at each `inc` and
 * `observe`, and a login made four of those. A label set is looked up by its values (a Map per
 * label), and listed in the order it was first used, as prom-client lists its own.
 */
class LabelSets<S> {
  /** Each label set's series, in the order of first use. */
  readonly series: S[] = [];
  readonly #index = new Map<string, unknown>();

  constructor(
    readonly names: readonly string[],
    readonly make: (labels: Record<string, string>) => S,
  ) {}

  /** The series of these label values (as many as `names`, in their order). */
  at(a: string, b: string, c?: string): S {
    let level = below(this.#index, a);
    if (c !== undefined) level = below(level, b);
    const last = c ?? b;
    let series = level.get(last) as S | undefined;
    if (series === undefined) {
      const values = c === undefined ? [a, b] : [a, b, c];
      const labels: Record<string, string> = {};
      for (const [i, name] of this.names.entries()) labels[name] = values[i] as string;
      series = this.make(labels);
      level.set(last, series);
      this.series.push(series);
    }
    return series;
  }

  clear(): void {
    this.series.length = 0;
    this.#index.clear();
  }
}

/** The map under `key` in `level`, made when missing. */
function below(level: Map<string, unknown>, key: string): Map<string, unknown> {
  let next = level.get(key) as Map<string, unknown> | undefined;
  if (next === undefined) {
    next = new Map();
    level.set(key, next);
  }
  return next;
}

interface CountSeries {
  readonly labels: Record<string, string>;
  value: number;
}

/** A counter with two labels, counted here and set on `counter` at each scrape. */
export class HotCounter {
  readonly #sets: LabelSets<CountSeries>;

  constructor(names: readonly [string, string]) {
    this.#sets = new LabelSets(names, (labels) => ({ labels, value: 0 }));
  }

  inc(a: string, b: string, by = 1): void {
    this.#sets.at(a, b).value += by;
  }

  /** For the counter's `collect`: its values become these. */
  collectInto(counter: Counter): void {
    counter.reset();
    for (const s of this.#sets.series) counter.inc(s.labels, s.value);
  }
}

interface HistogramSeries {
  readonly labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** One line of a metric as prom-client's registry and cluster aggregator read it. */
interface MetricValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/**
 * A histogram with three labels, kept here and exported in the very shape of prom-client's own
 * `Histogram` (its registry formats and its cluster aggregator sums the values alike).
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #sets: LabelSets<HistogramSeries>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly [string, string, string],
    readonly buckets: readonly number[],
  ) {
    this.#sets = new LabelSets(labelNames, (labels) => ({
      labels,
      counts: new Array<number>(buckets.length + 1).fill(0),
      sum: 0,
      count: 0,
    }));
  }

  observe(a: string, b: string, c: string, value: number): void {
    const series = this.#sets.at(a, b, c);
    series.sum += value;
    series.count += 1;
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i += 1;
    series.counts[i] = (series.counts[i] as number) + 1;
  }

  reset(): void {
    this.#sets.clear();
  }

  /** For the registry's text: bucket bounds in `labels`, the label set in `sharedLabels`. */
  getForPromString() {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#sets.series) {
      let running = 0;
      for (const [i, le] of this.buckets.entries()) {
        running += s.counts[i] as number;
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: running,
          metricName: bucket,
          exemplar: null,
        });
      }
      const shared = s.labels;
      values.push(
        {
          labels: { le: '+Inf' },
          sharedLabels: shared,
          value: s.count,
          metricName: bucket,
          exemplar: null,
        },
        {
          labels: {},
          sharedLabels: shared,
          value: s.sum,
          metricName: `${this.name}_sum`,
          exemplar: undefined,
        },
        {
          labels: {},
          sharedLabels: shared,
          value: s.count,
          metricName: `${this.name}_count`,
          exemplar: undefined,
        },
      );
    }
    const { name, help, type, aggregator } = this;
    return { name, help, type, values, aggregator };
  }

  /** For the registry's JSON (and a worker pool's primary): each value with all its labels. */
  get() {
    const metric = this.getForPromString();
    return {
      ...metric,
      values: metric.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}
