//! The desktop benchmark's figures and its section of docs/BENCHMARKS.md.

use anyhow::Result;
use opencloud_tests::doc_section::{write_section, Section};
use opencloud_tests::host::{machine, now_utc, verdict, Pcts};

use crate::presence::{Mode, PresenceFigures};
use crate::signin::SignInFigures;

/// Sign-in → ready p95, argon2 excluded, must stay under this.
const READY_P95_TARGET_MS: f64 = 500.0;
/// Pings one node absorbs per core-second (50,000 users, one ping per 10 s).
const PINGS_TARGET: f64 = 5000.0;

#[derive(Default)]
pub struct Figures {
    pub signin: Option<SignInFigures>,
    pub presence: Option<PresenceFigures>,
}

fn ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1} ms")
    } else {
        "n/a".into()
    }
}

fn signin_section(s: &SignInFigures) -> (String, f64) {
    let col =
        |f: fn(&crate::signin::Run) -> f64| Pcts::of(&s.runs.iter().map(f).collect::<Vec<_>>());
    let total = col(|r| r.total);
    let a = s.argon2.p50;
    let net = Pcts::of(&s.runs.iter().map(|r| r.total - a).collect::<Vec<_>>());
    let mut t = format!(
        "**Sign-in → desktop ready.** 3 release nodes on loopback, the tenant seeded as the \
         desktop tests do (`TenantAdmin::seed`: 2 apps in the user's profile), headless {} \
         through `tests/browser/viewer.mjs`. {} runs after {} warm-ups, each in a fresh browser \
         context (no cookies, cache or storage) and on the next node in turn (node {} leads). \
         The clock runs in the page: from the sign-in form's submit event to the moment \
         `window.ocDesktop` has all its apps on the desktop as icons and its events socket \
         has answered the first ping (`ocDesktop.connected`), so browser start-up and the \
         sign-in page's own load are outside it. Each page times with its own \
         `performance.now()`; the two are joined through `Date.now()`, each page reading its \
         offset at a tick of it (good to about 0.1 ms; joined through \
         `performance.timeOrigin` instead, {} of the {} runs differed by more than 2 ms). \
         The argon2id verify that every sign-in pays on purpose is timed in the benchmark's process (`password::verify`, \
         `HashParams::default()`: 19 MiB, 2 passes, 1 lane; 60 times, the cluster idle). \
         Other processes on the machine used {:.2} cores on average during the runs.\n\n",
        s.chromium,
        s.runs.len(),
        s.warmups,
        s.leader,
        s.origin_off,
        s.runs.len() + s.warmups,
        s.others_cores
    );
    t += "| measure | p50 | p95 | max | n |\n|---|---:|---:|---:|---:|\n";
    let row = |name: &str, p: &Pcts| {
        format!(
            "| {name} | {} | {} | {} | {} |\n",
            ms(p.p50),
            ms(p.p95),
            ms(p.max),
            p.n
        )
    };
    t += &row("sign-in → desktop ready", &total);
    t += &row("argon2id verify (in-process)", &s.argon2);
    t += &row("sign-in → ready minus the argon2 p50", &net);
    let leader = col_filter(s, true);
    let follower = col_filter(s, false);
    t += &row("… runs on the leader", &leader);
    t += &row("… runs on a follower", &follower);
    t += "\nWhere the time goes (medians over the runs, ms after the submit event), and the \
          node's share of the three requests on the way (request sent → first byte of the \
          answer, from Resource Timing):\n\n| step | p50 after submit | request → first byte |\n|---|---:|---:|\n";
    type Col = fn(&crate::signin::Run) -> f64;
    let steps: [(&str, Col, Option<Col>); 9] = [
        (
            "sign-in answer in (`POST /api/v1/login`: argon2, store reads and writes)",
            |r| r.login,
            Some(|r| r.login_srv),
        ),
        ("desktop navigation starts", |r| r.nav, None),
        (
            "desktop HTML in (`GET /t/acme/`)",
            |r| r.html,
            Some(|r| r.html_srv),
        ),
        ("`desktop.js` in", |r| r.js, None),
        ("`/api/v1/me` sent", |r| r.me_sent, None),
        ("`/api/v1/me` answer in", |r| r.me, Some(|r| r.me_srv)),
        ("apps rendered as icons", |r| r.icons, None),
        ("events websocket open", |r| r.open, None),
        (
            "first pong (the first ping writes presence to the store)",
            |r| r.pong,
            None,
        ),
    ];
    for (name, f, srv) in steps {
        t += &format!(
            "| {name} | {} | {} |\n",
            ms(col(f).p50),
            srv.map_or(String::new(), |g| ms(col(g).p50))
        );
    }
    t += "\n";
    (t, net.p95)
}

fn col_filter(s: &SignInFigures, leader: bool) -> Pcts {
    Pcts::of(
        &s.runs
            .iter()
            .filter(|r| r.leader == leader)
            .map(|r| r.total)
            .collect::<Vec<_>>(),
    )
}

fn presence_section(p: &PresenceFigures) -> (String, f64, Option<String>) {
    let kmax = p.signins;
    let mut t = format!(
        "**Presence pings on one core.** One release node (a single-node cluster, so its \
         store writes stay local), every thread of it pinned to core 0 with `taskset -a`; \
         the load generator (this benchmark, one tokio thread) pinned to core 1. {kmax} \
         sessions of one user were signed in first through `POST /t/acme/api/v1/login`, \
         {} at a time with the node on both cores: {:.1} s ({:.0} sign-ins/s, argon2 bound). \
         Each step opens K events websockets (`wss://…/t/acme/api/v1/events`, the session \
         cookie; {} at a time), runs {} s of warm-up (every socket's first ping writes its \
         presence: 2 store writes) and measures {} s. Closed loop: each socket sends \
         `{{\"t\":\"ping\"}}` as soon as the previous `{{\"t\":\"pong\"}}` is in. Open loop: \
         each socket pings on its own fixed schedule, whatever the answers, and latency counts \
         from the scheduled time. CPU from `/proc/<pid>/stat` over the measured window; RSS is \
         VmRSS at its end (the node: {} MiB before the sign-ins, {} MiB idle after them). \
         Other processes' CPU on each core is /proc/stat's busy time of the core minus ours. \
         Store log entries are the \
         node's `opencloud_raft_last_log_index` over the window (one entry holds one or more \
         writes).\n\n",
        p.signin_concurrency,
        p.signin_s,
        kmax as f64 / p.signin_s.max(1e-9),
        crate::presence::CONNECT_CONCURRENCY,
        p.warmup_s,
        p.seconds,
        p.fresh_rss_kib / 1024,
        p.idle_rss_kib / 1024
    );
    t += "| loop | sockets | pongs/s | p50 | p99 | max | node CPU | pongs per node core-second | load generator CPU | others on core 0 / 1 | node RSS | log entries (window / step) | connecting |\n\
          |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    let mut best: f64 = 0.0;
    for s in &p.steps {
        let per_core = s.pongs_per_s / s.node_cores.max(1e-9);
        let mode = match s.mode {
            Mode::Closed => {
                best = best.max(per_core);
                "closed".to_string()
            }
            Mode::Open { rate } => format!("open, {rate}/s"),
        };
        t += &format!(
            "| {mode} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.1} ms | {:.0} % of a core | {:.0} | {:.0} % of a core | {:.0} % / {:.0} % | {} MiB | {:.0} / {:.0} | {:.1} s |\n",
            s.sessions,
            s.pongs_per_s,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            s.node_cores * 100.0,
            per_core,
            s.load_cores * 100.0,
            s.others_core0 * 100.0,
            s.others_core1 * 100.0,
            s.rss_kib / 1024,
            s.log_entries,
            s.log_entries_step,
            s.connect_s
        );
    }
    let errors: u64 = p.steps.iter().map(|s| s.errors).sum();
    if errors > 0 {
        t += &format!(
            "\n{errors} open-loop pings went unanswered within 10 s of the window's end.\n"
        );
    }
    if let Some(s) = p.steps.iter().find(|s| matches!(s.mode, Mode::Closed)) {
        let per = s.kib_per_socket;
        let growth: Vec<String> = p
            .steps
            .iter()
            .map(|s| format!("{:.0}", s.kib_per_socket))
            .collect();
        t += &format!(
            "\nMemory: in the first step the node's RSS grew by {:.0} KiB per open events socket \
             ({} sockets, from just before connecting), i.e. about {:.0} MiB for 50,000. (Later \
             steps reuse what the allocator kept from the sockets of the step before, so their \
             growth, {} KiB per socket in step order, undercounts.)\n",
            per,
            s.sessions,
            per * 50_000.0 / 1024.0,
            growth.join(", ")
        );
    }
    let open = p.steps.iter().find_map(|s| match s.mode {
        Mode::Open { rate } => Some(format!(
            "{:.0} of {rate} pongs/s at {:.0} % of the core, p99 {:.2} ms",
            s.pongs_per_s,
            s.node_cores * 100.0,
            s.p99_ms
        )),
        Mode::Closed => None,
    });
    t += "\n";
    (t, best, open)
}

pub fn render(f: &Figures) -> String {
    let mut s = format!(
        "Run {} on {}, by `scripts/bench-desktop.sh` (release build; everything on 127.0.0.1).\n\n",
        now_utc(),
        machine()
    );
    let mut targets = String::from("| target | result | |\n|---|---|---|\n");
    if let Some(si) = &f.signin {
        let (text, net_p95) = signin_section(si);
        s += &text;
        targets += &format!(
            "| sign-in → desktop ready p95 < {READY_P95_TARGET_MS:.0} ms, argon2 excluded | {} (p95 minus the argon2 p50 of {}) | {} |\n",
            ms(net_p95),
            ms(si.argon2.p50),
            verdict(net_p95 < READY_P95_TARGET_MS)
        );
    }
    if let Some(p) = &f.presence {
        let (text, best, open) = presence_section(p);
        s += &text;
        targets += &format!(
            "| ≥ {PINGS_TARGET:.0} presence pings/s on one core (50,000 users) | {best:.0} pongs per node core-second (best closed-loop step){} | {} |\n",
            open.map_or(String::new(), |o| format!("; open loop: {o}")),
            verdict(best >= PINGS_TARGET)
        );
    }
    s += &targets;
    s += "\n";
    s
}

pub fn write(doc: &std::path::Path, body: &str) -> Result<()> {
    let section = Section {
        heading: "## Sign-in and presence",
        begin: "<!-- desktop-bench: generated by scripts/bench-desktop.sh; text outside these marks is kept -->",
        end: "<!-- desktop-bench: end -->",
    };
    write_section(doc, &section, body)
}
