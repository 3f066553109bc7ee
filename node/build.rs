//! The desktop's pages and scripts are built into the binary
//! (`include_dir!`), which cargo cannot see: rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=assets");
}
