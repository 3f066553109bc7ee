//! A linearizability check for one register written by a single sequential
//! writer with increasing values.
//!
//! Because the writer waits for each write to be acknowledged before the
//! next (retrying under the same request id), the writes are totally
//! ordered and every value is larger than the one before. That makes the
//! general (NP-hard) check three simple rules on the history of reads:
//! - no stale read: a read that starts after write `v` was acknowledged
//!   returns `v` or later;
//! - no read from the future: a read returns only a value whose write had
//!   started before the read ended;
//! - no going back: a read that starts after another read ended returns the
//!   same value or a later one.
//!
//! Times are instants taken by the test process around each request.

use std::time::Instant;

/// A write of `value` (values start at 1; 0 means "absent").
#[derive(Clone, Copy, Debug)]
pub struct Write {
    pub value: u64,
    pub start: Instant,
    /// When the acknowledgement arrived.
    pub end: Instant,
}

/// A read that returned `value` (0 for a 404).
#[derive(Clone, Copy, Debug)]
pub struct Read {
    pub value: u64,
    pub start: Instant,
    pub end: Instant,
    /// Which node served it, for the report.
    pub node: u64,
}

/// Every violation in the history, described for a person (empty if the
/// history is linearizable). `writes` must be in the order they were made.
pub fn violations(writes: &[Write], reads: &[Read]) -> Vec<String> {
    let mut out = Vec::new();
    let t0 = writes
        .iter()
        .map(|w| w.start)
        .chain(reads.iter().map(|r| r.start))
        .min();
    let ms = |t: Instant| t0.map(|t0| t.duration_since(t0).as_millis()).unwrap_or(0);
    for r in reads {
        // The latest write acknowledged before the read began.
        let floor = writes
            .iter()
            .filter(|w| w.end < r.start)
            .map(|w| w.value)
            .max()
            .unwrap_or(0);
        if r.value < floor {
            out.push(format!(
                "stale read on node {}: got {} at {}..{} ms, but {} was acknowledged before",
                r.node,
                r.value,
                ms(r.start),
                ms(r.end),
                floor
            ));
        }
        // The latest write begun before the read ended.
        let ceiling = writes
            .iter()
            .filter(|w| w.start < r.end)
            .map(|w| w.value)
            .max()
            .unwrap_or(0);
        if r.value > ceiling {
            out.push(format!(
                "read from the future on node {}: got {} at {}..{} ms, latest write begun was {}",
                r.node,
                r.value,
                ms(r.start),
                ms(r.end),
                ceiling
            ));
        }
    }
    // No going back: sort by end, and compare each read with the largest
    // value of the reads that ended before it started.
    let mut by_end: Vec<&Read> = reads.iter().collect();
    by_end.sort_by_key(|r| r.end);
    for r in reads {
        let before = by_end
            .iter()
            .take_while(|o| o.end < r.start)
            .max_by_key(|o| o.value);
        if let Some(b) = before {
            if r.value < b.value {
                out.push(format!(
                    "read went back in time on node {}: got {} at {}..{} ms, after node {} \
                     returned {} at {}..{} ms",
                    r.node,
                    r.value,
                    ms(r.start),
                    ms(r.end),
                    b.node,
                    b.value,
                    ms(b.start),
                    ms(b.end)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn w(t0: Instant, value: u64, s: u64, e: u64) -> Write {
        Write {
            value,
            start: at(t0, s),
            end: at(t0, e),
        }
    }

    fn r(t0: Instant, value: u64, s: u64, e: u64) -> Read {
        Read {
            value,
            start: at(t0, s),
            end: at(t0, e),
            node: 1,
        }
    }

    #[test]
    fn a_linearizable_history_passes() {
        let t0 = Instant::now();
        let writes = [w(t0, 1, 0, 10), w(t0, 2, 10, 20), w(t0, 3, 20, 30)];
        // Concurrent reads may see either side of an overlapping write.
        let reads = [
            r(t0, 0, 0, 5),
            r(t0, 1, 5, 12),
            r(t0, 2, 11, 15),
            r(t0, 2, 16, 25),
            r(t0, 3, 26, 40),
        ];
        assert!(violations(&writes, &reads).is_empty());
    }

    #[test]
    fn a_stale_read_is_caught() {
        let t0 = Instant::now();
        let writes = [w(t0, 1, 0, 10), w(t0, 2, 10, 20)];
        let v = violations(&writes, &[r(t0, 1, 25, 30)]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("stale"));
    }

    #[test]
    fn a_read_from_the_future_is_caught() {
        let t0 = Instant::now();
        let writes = [w(t0, 1, 0, 10), w(t0, 2, 50, 60)];
        let v = violations(&writes, &[r(t0, 2, 20, 30)]);
        assert!(v.iter().any(|s| s.contains("future")), "{v:?}");
    }

    #[test]
    fn going_back_in_time_is_caught() {
        let t0 = Instant::now();
        // Write 2 is in flight for a long time; one read sees it, a later
        // read does not.
        let writes = [w(t0, 1, 0, 10), w(t0, 2, 10, 100)];
        let v = violations(&writes, &[r(t0, 2, 20, 30), r(t0, 1, 40, 50)]);
        assert!(v.iter().any(|s| s.contains("back in time")), "{v:?}");
    }
}
