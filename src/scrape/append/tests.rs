use super::*;

fn mk_head() -> (tempfile::TempDir, Head) {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(
        &dir.path().join("head"),
        fedstore_storage::HeadOptions::default(),
    )
    .unwrap();
    (dir, head)
}
