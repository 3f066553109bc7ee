//! The state machine's own rules: command outcomes, idempotent request ids,
//! and snapshots that carry both data and the dedupe memory.

use opencloud_raft::storage_for_tests::{open, StateMachine};
use opencloud_raft::types::{Batch, Entry, LogId};
use opencloud_raft::{Command, Outcome, Proposal};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, RaftSnapshotBuilder};

fn entry(index: u64, request_id: &str, command: Command) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Batch(vec![Proposal {
            request_id: request_id.into(),
            command,
        }])),
    }
}

/// The outcomes of all proposals of all entries, in order.
fn flat(v: Vec<Vec<Outcome>>) -> Vec<Outcome> {
    v.into_iter().flatten().collect()
}

fn put(k: &str, v: &str) -> Command {
    Command::Put {
        key: k.into(),
        value: v.into(),
    }
}

async fn get(sm: &mut StateMachine, k: &str) -> Option<Vec<u8>> {
    // A CAS that expects an impossible value reports the current one.
    let probe = Command::CompareAndSwap {
        key: k.into(),
        expected: Some(b"\0probe".to_vec()),
        new: None,
    };
    let index = next_index(sm).await;
    let answers = sm
        .apply([entry(index, &format!("probe-{index}"), probe)])
        .await;
    match flat(answers.unwrap()).pop() {
        Some(Outcome::Conflict { current }) => current,
        other => panic!("probe answered {other:?}"),
    }
}

async fn next_index(sm: &mut StateMachine) -> u64 {
    sm.applied_state()
        .await
        .unwrap()
        .0
        .map(|l| l.index + 1)
        .unwrap_or(1)
}

#[tokio::test]
async fn commands_report_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path()).unwrap();
    let ins = |v: &str| Command::Insert {
        key: "t".into(),
        value: v.into(),
    };
    let out = flat(
        sm.apply([
            entry(1, "a", ins("1")),
            entry(2, "b", ins("2")),
            entry(3, "c", Command::Delete { key: "t".into() }),
            entry(4, "d", Command::Delete { key: "t".into() }),
            entry(
                5,
                "e",
                Command::CompareAndSwap {
                    key: "t".into(),
                    expected: None,
                    new: Some(b"3".to_vec()),
                },
            ),
        ])
        .await
        .unwrap(),
    );
    assert_eq!(
        out,
        vec![
            Outcome::Done,
            Outcome::Exists,
            Outcome::Done,
            Outcome::NotFound,
            Outcome::Done
        ]
    );
    assert_eq!(get(&mut sm, "t").await, Some(b"3".to_vec()));
}

#[tokio::test]
async fn a_retried_request_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path()).unwrap();
    sm.apply([entry(1, "req-1", put("k", "first"))])
        .await
        .unwrap();
    // Same id, different content: a retry must not apply anything new.
    let out = flat(
        sm.apply([entry(2, "req-1", put("k", "second"))])
            .await
            .unwrap(),
    );
    assert_eq!(out, vec![Outcome::Done]);
    assert_eq!(get(&mut sm, "k").await, Some(b"first".to_vec()));
    // Within one batch too.
    let out = sm
        .apply([
            entry(4, "req-2", put("j", "a")),
            entry(5, "req-2", put("j", "b")),
        ])
        .await
        .unwrap();
    assert_eq!(flat(out), vec![Outcome::Done, Outcome::Done]);
    assert_eq!(get(&mut sm, "j").await, Some(b"a".to_vec()));
    // And within one entry holding several proposals.
    let proposal = |id: &str, command| Proposal {
        request_id: id.into(),
        command,
    };
    let several = Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), 6),
        payload: EntryPayload::Normal(Batch(vec![
            proposal("req-3", put("h", "x")),
            proposal("req-3", put("h", "y")),
            proposal(
                "req-4",
                Command::Insert {
                    key: "h".into(),
                    value: "z".into(),
                },
            ),
        ])),
    };
    let out = flat(sm.apply([several]).await.unwrap());
    assert_eq!(out, vec![Outcome::Done, Outcome::Done, Outcome::Exists]);
    assert_eq!(get(&mut sm, "h").await, Some(b"x".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_carry_data_and_dedupe_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path()).unwrap();
    sm.apply([entry(1, "r1", put("a", "1")), entry(2, "r2", put("b", "2"))])
        .await
        .unwrap();
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    let other_dir = tempfile::tempdir().unwrap();
    let (_log2, mut other) = open(other_dir.path()).unwrap();
    other
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    assert_eq!(
        other.applied_state().await.unwrap().0.map(|l| l.index),
        Some(2)
    );
    assert_eq!(get(&mut other, "a").await, Some(b"1".to_vec()));
    // The retry of r1 arrives after the snapshot: still applied once.
    other
        .apply([entry(4, "r1", put("a", "again"))])
        .await
        .unwrap();
    assert_eq!(get(&mut other, "a").await, Some(b"1".to_vec()));

    // And the installed state survives a restart.
    drop(other);
    drop(_log2);
    // The log's flusher task holds the database until it sees its channel
    // close; let it run.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_log3, mut reopened) = open(other_dir.path()).unwrap();
    assert_eq!(get(&mut reopened, "b").await, Some(b"2".to_vec()));
}

/// A build captures the state when it starts and serialises it beside the
/// state machine task. A newer snapshot installed meanwhile (after which
/// openraft purges the log up to it) must stay the snapshot on disk: were
/// the older build to replace it, a restart would find the log purged
/// beyond its snapshot and refuse to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_build_never_replaces_a_newer_installed_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path()).unwrap();
    sm.apply([entry(1, "r1", put("a", "1"))]).await.unwrap();
    let mut old_build = sm.get_snapshot_builder().await;

    // The leader's snapshot, further on.
    let leader_dir = tempfile::tempdir().unwrap();
    let (_leader_log, mut leader) = open(leader_dir.path()).unwrap();
    let entries: Vec<Entry> = (1..=10)
        .map(|i| entry(i, &format!("l{i}"), put("a", &i.to_string())))
        .collect();
    leader.apply(entries).await.unwrap();
    let newer = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    sm.install_snapshot(&newer.meta, newer.snapshot)
        .await
        .unwrap();

    // The old build finishes last.
    let built = old_build.build_snapshot().await.unwrap();
    assert_eq!(built.meta.last_log_id.map(|l| l.index), Some(1));
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id.map(|l| l.index), Some(10));

    // And so after a restart.
    drop(sm);
    drop(_log);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_log2, mut reopened) = open(dir.path()).unwrap();
    let current = reopened.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id.map(|l| l.index), Some(10));
    assert_eq!(get(&mut reopened, "a").await, Some(b"10".to_vec()));
}
