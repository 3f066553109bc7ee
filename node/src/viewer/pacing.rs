//! When a viewer's next frame may leave: at once after a pause, at most
//! every `busy_frame_interval` while the screen keeps changing.
//!
//! The SPICE client signals a change once it has read everything that
//! arrived with it, which is the end of the VM's redraw burst; so a lone
//! change (a key's echo) needs no waiting at all. A screen that changes at
//! every QEMU refresh for a while instead gets fewer, merged frames: each
//! frame costs a diff and an image per changed region whatever its size,
//! and nobody reads a log that scrolls at 33 screens a second.

use std::time::{Duration, Instant};

use super::ViewerConfig;

#[derive(Debug, Default)]
pub struct Pacing {
    last_frame: Option<Instant>,
    /// When the current run of frames without a `busy_pause` began.
    busy_since: Option<Instant>,
}

impl Pacing {
    /// When a frame for changes pending now may be sent.
    pub fn due(&self, cfg: &ViewerConfig, now: Instant) -> Instant {
        match self.last_frame {
            None => now,
            Some(last) => last + self.interval(cfg, now),
        }
    }

    /// Records a frame sent at `now`.
    pub fn sent(&mut self, cfg: &ViewerConfig, now: Instant) {
        let paused = match self.last_frame {
            None => true,
            Some(last) => now.saturating_duration_since(last) >= cfg.busy_pause,
        };
        if paused {
            self.busy_since = Some(now);
        }
        self.last_frame = Some(now);
    }

    /// Whether frames are being held to `busy_frame_interval`.
    pub fn busy(&self, cfg: &ViewerConfig, now: Instant) -> bool {
        self.busy_since
            .is_some_and(|since| now.saturating_duration_since(since) >= cfg.busy_after)
    }

    fn interval(&self, cfg: &ViewerConfig, now: Instant) -> Duration {
        if self.busy(cfg, now) {
            cfg.busy_frame_interval.max(cfg.min_frame_interval)
        } else {
            cfg.min_frame_interval
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_lone_change_leaves_at_once() {
        let cfg = ViewerConfig::default();
        let t0 = Instant::now();
        let mut p = Pacing::default();
        assert_eq!(p.due(&cfg, t0), t0);
        p.sent(&cfg, t0);
        // A key's echo a little later: no floor outside a busy spell.
        assert_eq!(p.due(&cfg, t0 + ms(100)), t0);
    }

    #[test]
    fn a_screen_changing_at_every_refresh_gets_paced_then_released() {
        let cfg = ViewerConfig::default();
        let t0 = Instant::now();
        let mut p = Pacing::default();
        let mut t = t0;
        // Frames every 30 ms (QEMU's refresh) leave at once until the
        // spell has lasted busy_after.
        while !p.busy(&cfg, t) {
            assert!(p.due(&cfg, t) <= t, "held back at {:?}", t - t0);
            p.sent(&cfg, t);
            t += ms(30);
        }
        assert!(t - t0 >= cfg.busy_after && t - t0 < cfg.busy_after + ms(60));
        let last = t - ms(30);
        assert_eq!(p.due(&cfg, t), last + cfg.busy_frame_interval);
        // Paced frames keep the spell going...
        let paced = last + cfg.busy_frame_interval;
        p.sent(&cfg, paced);
        assert!(p.busy(&cfg, paced + ms(1)));
        // ...and a pause ends it: the next change leaves at once.
        let after = paced + cfg.busy_pause + ms(5);
        assert!(p.due(&cfg, after) <= after);
        p.sent(&cfg, after);
        assert!(!p.busy(&cfg, after + ms(10)));
        assert_eq!(p.due(&cfg, after + ms(10)), after);
    }

    #[test]
    fn the_floor_applies_always() {
        let cfg = ViewerConfig {
            min_frame_interval: ms(16),
            ..ViewerConfig::default()
        };
        let t0 = Instant::now();
        let mut p = Pacing::default();
        p.sent(&cfg, t0);
        assert_eq!(p.due(&cfg, t0 + ms(1)), t0 + ms(16));
    }
}
