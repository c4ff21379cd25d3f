"""Summarises bench/compare.sh's measurements: each row's median and range, its CPU time per
request, and the ratios between servers computed round by round (both rows of a ratio ran
minutes apart at most, in the same round), with the targets beside them.

    python3 bench/compare_summary.py RESULTS CLOCK_TICKS_PER_SECOND DATABASE
"""

import statistics
import sys
from collections import defaultdict

# (numerator, denominator, what the issue asks of it)
RATIOS = [
    ("coffer envelope encrypt", "floor encrypt", ">= 0.50"),
    ("coffer envelope decrypt", "floor decrypt", ">= 0.50"),
    ("coffer hsm encrypt", "openbao transit encrypt", ">= 3.00"),
    ("coffer hsm decrypt", "openbao transit decrypt", ""),
    ("coffer envelope encrypt", "openbao transit encrypt", ""),
    ("coffer envelope decrypt", "openbao transit decrypt", ""),
]
CPU_RATIOS = [
    ("coffer envelope encrypt", "floor encrypt", "<= 2.00"),
    ("coffer envelope decrypt", "floor decrypt", "<= 2.00"),
]


def spread(values, digits=0):
    """'median (min-max)' of the values."""
    fmt = f"{{:,.{digits}f}}"
    median = fmt.format(statistics.median(values))
    return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main(path, ticks_per_second, database):
    runs = defaultdict(list)  # (row, connections) -> [(round, rps, p99, errors, requests, ticks)]
    with open(path) as results:
        for line in results:
            rnd, row, conns, rps, _p50, p99, errors, requests, ticks = line.strip().split("|")
            runs[(row, int(conns))].append(
                (int(rnd), float(rps), float(p99), int(errors), int(requests), int(ticks))
            )

    def cpu_micros(row, conns):
        measured = runs[(row, conns)]
        return sum(m[5] for m in measured) / ticks_per_second * 1e6 / max(1, sum(m[4] for m in measured))

    print(f"Summary over {len({m[0] for v in runs.values() for m in v})} rounds (Coffer on {database}):")
    print(f"{'row':<24} {'conns':>5} {'req/s median (range)':>26} {'p99 ms median (range)':>24} {'errors':>7} {'CPU µs/req':>10}")
    for (row, conns), measured in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0])):
        rps = [m[1] for m in measured]
        p99 = [m[2] for m in measured]
        errors = sum(m[3] for m in measured)
        print(f"{row:<24} {conns:>5} {spread(rps):>26} {spread(p99, 2):>24} {errors:>7} {cpu_micros(row, conns):>10.1f}")

    print()
    print("Throughput ratios, round by round (median and range):")
    for numerator, denominator, target in RATIOS:
        for conns in sorted({c for (_, c) in runs}):
            top = {m[0]: m[1] for m in runs.get((numerator, conns), [])}
            bottom = {m[0]: m[1] for m in runs.get((denominator, conns), [])}
            ratios = [top[r] / bottom[r] for r in top if r in bottom and bottom[r] > 0]
            if ratios:
                label = f"{numerator} / {denominator}"
                print(f"  {label:<50} c={conns:<3} {spread(ratios, 2):>20}  {('target ' + target) if target else ''}")
    print()
    print("CPU per request, ratios (all rounds):")
    for numerator, denominator, target in CPU_RATIOS:
        for conns in sorted({c for (_, c) in runs}):
            if (numerator, conns) in runs and (denominator, conns) in runs:
                ratio = cpu_micros(numerator, conns) / cpu_micros(denominator, conns)
                label = f"{numerator} / {denominator}"
                print(f"  {label:<50} c={conns:<3} {ratio:>20.2f}  target {target}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
