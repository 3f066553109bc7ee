//! Viewer metrics: per viewer (labelled with a short viewer id, removed when
//! the viewer leaves so that label sets stay bounded by live viewers) and
//! for all viewers together.

use std::time::Duration;

use prometheus::{
    CounterVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct ViewerMetrics {
    bytes: IntCounterVec,
    frames: IntCounterVec,
    inputs: IntCounterVec,
    lag: IntGaugeVec,
    /// Per viewer, the sum of its frames' latencies: with the frame count,
    /// a viewer's mean latency, without a histogram per viewer.
    latency_sum: CounterVec,
    latency: Histogram,
    viewers: IntGauge,
    passthrough: IntGauge,
}

impl ViewerMetrics {
    /// Makes the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = ViewerMetrics {
            bytes: IntCounterVec::new(
                Opts::new(
                    "viewer_bytes_total",
                    "Bytes sent to a viewer by encoding (png, jpeg, copy, fill, size, control)",
                ),
                &["viewer", "encoding"],
            )?,
            frames: IntCounterVec::new(
                Opts::new("viewer_frames_total", "Frames sent to a viewer"),
                &["viewer"],
            )?,
            inputs: IntCounterVec::new(
                Opts::new(
                    "viewer_input_events_total",
                    "Keyboard and mouse events from a viewer",
                ),
                &["viewer"],
            )?,
            lag: IntGaugeVec::new(
                Opts::new(
                    "viewer_frames_unacknowledged",
                    "Frames sent to a viewer and not yet drawn",
                ),
                &["viewer"],
            )?,
            latency_sum: CounterVec::new(
                Opts::new(
                    "viewer_frame_latency_seconds_total",
                    "Sum of a viewer's frame latencies (divide by its frames for the mean)",
                ),
                &["viewer"],
            )?,
            latency: Histogram::with_opts(
                HistogramOpts::new(
                    "viewer_frame_latency_seconds",
                    "Time from the SPICE message to the websocket frame out, all viewers",
                )
                .buckets(vec![
                    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
                ]),
            )?,
            viewers: IntGauge::new("viewers", "Translate-mode viewers connected")?,
            passthrough: IntGauge::new(
                "viewer_passthrough_sockets",
                "Passthrough websockets open",
            )?,
        };
        registry.register(Box::new(m.bytes.clone()))?;
        registry.register(Box::new(m.frames.clone()))?;
        registry.register(Box::new(m.inputs.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.latency_sum.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        registry.register(Box::new(m.viewers.clone()))?;
        registry.register(Box::new(m.passthrough.clone()))?;
        Ok(m)
    }

    /// Counts one viewer in until the handle drops.
    pub fn viewer(&self, id: &str) -> ViewerHandle {
        self.viewers.inc();
        ViewerHandle {
            m: self.clone(),
            id: id.to_string(),
        }
    }

    /// Counts one passthrough socket until the guard drops.
    pub fn passthrough(&self) -> PassthroughGuard {
        self.passthrough.inc();
        PassthroughGuard(self.passthrough.clone())
    }
}

pub struct PassthroughGuard(IntGauge);

impl Drop for PassthroughGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One viewer's metrics.
pub struct ViewerHandle {
    m: ViewerMetrics,
    id: String,
}

impl ViewerHandle {
    pub fn sent(&self, encoding: &str, bytes: usize) {
        self.m
            .bytes
            .with_label_values(&[&self.id, encoding])
            .inc_by(bytes as u64);
    }

    pub fn frame(&self, latency: Duration) {
        self.m.frames.with_label_values(&[&self.id]).inc();
        self.m
            .latency_sum
            .with_label_values(&[&self.id])
            .inc_by(latency.as_secs_f64());
        self.m.latency.observe(latency.as_secs_f64());
    }

    pub fn input(&self) {
        self.m.inputs.with_label_values(&[&self.id]).inc();
    }

    pub fn unacknowledged(&self, n: u32) {
        self.m.lag.with_label_values(&[&self.id]).set(i64::from(n));
    }
}

impl Drop for ViewerHandle {
    fn drop(&mut self) {
        self.m.viewers.dec();
        for enc in [
            "png", "jpeg", "copy", "fill", "size", "cursor", "control", "frame",
        ] {
            let _ = self.m.bytes.remove_label_values(&[&self.id, enc]);
        }
        let _ = self.m.frames.remove_label_values(&[&self.id]);
        let _ = self.m.latency_sum.remove_label_values(&[&self.id]);
        let _ = self.m.inputs.remove_label_values(&[&self.id]);
        let _ = self.m.lag.remove_label_values(&[&self.id]);
    }
}
