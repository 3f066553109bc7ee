//! openraft's own storage test suite, run against our sled log and state
//! machine: log reads, appends, truncation, purging, votes, membership and
//! snapshot handling must all behave as openraft expects.

use opencloud_raft::storage_for_tests;
use openraft::testing::{StoreBuilder, Suite};

struct SledBuilder;

impl
    StoreBuilder<
        opencloud_raft::types::TypeConfig,
        storage_for_tests::LogStore,
        storage_for_tests::StateMachine,
        tempfile::TempDir,
    > for SledBuilder
{
    async fn build(
        &self,
    ) -> Result<
        (
            tempfile::TempDir,
            storage_for_tests::LogStore,
            storage_for_tests::StateMachine,
        ),
        opencloud_raft::types::StorageError,
    > {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageError::IO {
            source: openraft::StorageIOError::write(openraft::AnyError::new(&e)),
        })?;
        let (log, sm) = storage_for_tests::open(dir.path())?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(SledBuilder).expect("storage suite");
}
