/** Upper bounds in seconds, in the spirit of Prometheus' default buckets but finer below 10 ms. */
export const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A cumulative histogram of durations, ready to be exported as a Prometheus histogram. */
export class LatencyHistogram {
  readonly counts = new Array<number>(latencyBuckets.length + 1).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count += 1;
    this.sum += seconds;
    let i = latencyBuckets.findIndex((bound) => seconds <= bound);
    if (i === -1) i = latencyBuckets.length;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  snapshot(): { buckets: { le: number; count: number }[]; count: number; sum: number } {
    let running = 0;
    const buckets = latencyBuckets.map((le, i) => {
      running += this.counts[i] ?? 0;
      return { le, count: running };
    });
    return { buckets, count: this.count, sum: this.sum };
  }
}
