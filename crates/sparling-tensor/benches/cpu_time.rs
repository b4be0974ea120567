//! A criterion [`Measurement`] of the CPU time of the whole process (all threads), read from
//! `/proc/self/task/*/schedstat` (nanoseconds on CPU).
//!
//! On a machine shared with other busy processes, wall-clock time measures the scheduler as
//! much as the code. CPU time does not: the throughput it reports is per core-second, so
//! "Gelem/s x 2" estimates what 2 threads reach on an idle 2-core machine, provided the work
//! is evenly parallel (rayon workers spinning while they wait for work count as CPU time, so
//! the estimate errs on the low side).

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time of all threads of this process.
pub struct CpuTime;

/// Sum of the on-CPU nanoseconds of every thread of this process (threads that exited are not
/// counted, so measure only with long-lived thread pools, as rayon's global pool is).
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

static WALL: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        process_cpu_ns()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(process_cpu_ns().saturating_sub(start))
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as for wall time: reuse criterion's duration formatting.
        WALL.formatter()
    }
}
