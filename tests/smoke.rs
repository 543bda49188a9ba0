//! First light: vhost-user handshake, INIT, GETATTR on the root.

mod common;

use epochfsd::fuse::abi;

#[test]
fn handshake_init_and_getattr_root_succeed() {
    let (_daemon, mut client) = common::start(1, &[]);

    let attr = client.getattr(abi::ROOT_ID).expect("GETATTR root");

    assert_eq!(attr.attr.mode & libc::S_IFMT, libc::S_IFDIR);
}
