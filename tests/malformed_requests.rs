//! A hostile or buggy guest, at the FUSE level: header lengths that disagree
//! with the chain, short arguments and reply buffers, unknown opcodes and
//! node ids, bad names. After each one the daemon must give the chain back
//! (used ring) and still answer GETATTR on the root on the same queue.

mod common;

use std::fs;

use common::malformed::*;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::{FromBytes, IntoBytes};

// ---- lengths ----

#[test]
fn header_len_larger_than_chain_is_refused() {
    let (_d, mut c) = start();
    let mut h = c.header(Opcode::Getattr as u32, ROOT_ID, 16);
    h.len += 1000;
    let arg = abi::GetattrIn::default();

    let done = send_bytes(&mut c, &[h.as_bytes(), arg.as_bytes()], &[OUT, 4096]);

    assert_refused(done.used_len, &done.reply);
}

#[test]
fn header_len_smaller_than_header_is_refused() {
    let (_d, mut c) = start();
    let mut h = c.header(Opcode::Getattr as u32, ROOT_ID, 16);
    h.len = 8;
    let arg = abi::GetattrIn::default();

    let done = send_bytes(&mut c, &[h.as_bytes(), arg.as_bytes()], &[OUT, 4096]);

    assert_refused(done.used_len, &done.reply);
}

#[test]
fn header_len_cutting_off_the_argument_is_refused() {
    let (_d, mut c) = start();
    let mut h = c.header(Opcode::Getattr as u32, ROOT_ID, 16);
    h.len = HDR + 4;
    let arg = abi::GetattrIn::default();

    let done = send_bytes(&mut c, &[h.as_bytes(), arg.as_bytes()], &[OUT, 4096]);

    assert_refused(done.used_len, &done.reply);
}

#[test]
fn chain_shorter_than_in_header_is_refused() {
    let (_d, mut c) = start();
    let h = c.header(Opcode::Getattr as u32, ROOT_ID, 16);

    let done = send_bytes(&mut c, &[&h.as_bytes()[..24]], &[OUT, 4096]);

    assert_eq!(
        done.used_len, 0,
        "no unique was readable, so nothing to reply to"
    );
}

#[test]
fn getattr_without_its_argument_is_refused() {
    let (_d, mut c) = start();
    let h = c.header(Opcode::Getattr as u32, ROOT_ID, 0);

    let done = send_bytes(&mut c, &[h.as_bytes()], &[OUT, 4096]);

    assert_refused(done.used_len, &done.reply);
}

#[test]
fn write_with_fewer_bytes_than_its_size_is_refused() {
    let (d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", libc::O_RDWR as u32, 0o644).unwrap();
    let arg = abi::WriteIn {
        fh: o.fh,
        offset: 0,
        size: 4096,
        ..Default::default()
    };
    let data = [7u8; 100];
    let h = c.header(
        Opcode::Write as u32,
        e.nodeid,
        size_of::<abi::WriteIn>() + data.len(),
    );

    let done = send_bytes(
        &mut c,
        &[h.as_bytes(), arg.as_bytes(), &data],
        &[OUT, size_of::<abi::WriteOut>() as u32],
    );

    assert_refused(done.used_len, &done.reply);
    assert_eq!(fs::metadata(d.share().join("f")).unwrap().len(), 0);
}

#[test]
fn getattr_with_16_byte_reply_buffer_writes_within_it() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(64).0;
    c.vmm.write_guest(vm_memory::GuestAddress(out), &[0xaa; 64]);

    let head = send_raw(&mut c, &linked(vec![rd(a, req.len() as u32), wr(out, OUT)]));

    let used = assert_survived(&mut c, head);
    let mem = c.vmm.read_guest(vm_memory::GuestAddress(out), 64);
    assert!(used <= OUT, "used length {used} exceeds the 16-byte buffer");
    assert!(
        mem[16..].iter().all(|&b| b == 0xaa),
        "daemon wrote past the reply buffer"
    );
    assert_refused(used, &mem);
}

#[test]
fn reply_buffer_smaller_than_out_header_is_left_alone() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(64).0;
    c.vmm.write_guest(vm_memory::GuestAddress(out), &[0xaa; 64]);

    let head = send_raw(&mut c, &linked(vec![rd(a, req.len() as u32), wr(out, 8)]));

    let used = assert_survived(&mut c, head);
    let mem = c.vmm.read_guest(vm_memory::GuestAddress(out), 64);
    assert_eq!(used, 0);
    assert!(
        mem[8..].iter().all(|&b| b == 0xaa),
        "daemon wrote past the buffer"
    );
}

#[test]
fn read_only_chain_without_writable_part_is_returned_unanswered() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);

    let head = send_raw(&mut c, &[rd(a, req.len() as u32)]);

    let used = assert_survived(&mut c, head);
    assert_eq!(used, 0);
}

#[test]
fn read_reply_larger_than_buffer_is_refused_or_truncated_within_it() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), vec![1u8; 8192]).unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();
    let arg = abi::ReadIn {
        fh: o.fh,
        size: 8192,
        ..Default::default()
    };
    let h = c.header(Opcode::Read as u32, e.nodeid, size_of::<abi::ReadIn>());

    let done = send_bytes(&mut c, &[h.as_bytes(), arg.as_bytes()], &[OUT, 100]);

    assert!(
        done.used_len as usize <= 116,
        "used length beyond the buffer"
    );
    if done.used_len > 0 {
        let (out, _) = abi::OutHeader::read_from_prefix(&done.reply).unwrap();
        assert_eq!(out.len, done.used_len);
    }
}

// ---- opcodes ----

#[test]
fn unknown_opcode_is_enosys() {
    let (_d, mut c) = start();

    let (out, _) = c.request(1, 9999, ROOT_ID, &[&[0u8; 16]], 4096);

    assert_eq!(out.error, -libc::ENOSYS);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn unused_opcode_number_7_is_enosys() {
    let (_d, mut c) = start();

    let (out, _) = c.request(1, 7, ROOT_ID, &[], 4096);

    assert_eq!(out.error, -libc::ENOSYS);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn cuse_init_opcode_is_enosys() {
    let (_d, mut c) = start();

    let (out, _) = c.request(1, 4096, 0, &[abi::InitIn::default().as_bytes()], 4096);

    assert_eq!(out.error, -libc::ENOSYS);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn getattr_of_unknown_nodeid_is_refused() {
    let (_d, mut c) = start();

    let r = c.getattr(0xdead_beef);

    assert!(r.is_err(), "GETATTR of a nodeid never handed out succeeded");
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn forget_of_unknown_nodeid_is_ignored() {
    let (_d, mut c) = start();

    let used = c.forget(0xdead_beef, 5);

    assert_eq!(used, Some(0));
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn forget_of_more_lookups_than_taken_leaves_daemon_serving() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let used = c.forget(e.nodeid, 1_000_000);

    assert_eq!(used, Some(0));
    assert!(c.getattr(ROOT_ID).is_ok());
    assert!(c.lookup(ROOT_ID, b"f").is_ok());
}

#[test]
fn forget_of_root_leaves_root_usable() {
    let (_d, mut c) = start();

    let used = c.forget(ROOT_ID, 1_000_000);

    assert_eq!(used, Some(0));
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn forget_on_request_queue_is_returned_unanswered() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let arg = abi::ForgetIn { nlookup: 1 };
    let h = c.header(Opcode::Forget as u32, e.nodeid, 8);

    let done = send_bytes(&mut c, &[h.as_bytes(), arg.as_bytes()], &[OUT, 64]);

    assert_eq!(done.used_len, 0, "FORGET must never be answered");
}

#[test]
fn truncated_forget_on_hiprio_queue_is_returned() {
    let (_d, mut c) = start();
    let h = c.header(Opcode::Forget as u32, ROOT_ID, 8);

    let head = c.vmm.submit(0, &[&h.as_bytes()[..20]], &[]);
    c.vmm.kick(0);

    assert!(c.vmm.wait_head(0, head, RETURN_TIMEOUT).is_some());
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn batch_forget_count_larger_than_payload_is_survived() {
    let (_d, mut c) = start();
    let arg = abi::BatchForgetIn {
        count: 1_000_000,
        dummy: 0,
    };
    let one = abi::ForgetOne {
        nodeid: ROOT_ID,
        nlookup: 1,
    };
    let h = c.header(Opcode::BatchForget as u32, 0, 8 + 16);

    let head = c
        .vmm
        .submit(0, &[h.as_bytes(), arg.as_bytes(), one.as_bytes()], &[]);
    c.vmm.kick(0);

    assert!(c.vmm.wait_head(0, head, RETURN_TIMEOUT).is_some());
    assert!(c.getattr(ROOT_ID).is_ok());
}

// ---- names ----

#[test]
fn lookup_name_with_slash_is_refused() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("sub")).unwrap();
    fs::write(d.share().join("sub/f"), b"").unwrap();

    let r = c.lookup(ROOT_ID, b"sub/f");

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn lookup_dot_is_refused() {
    let (_d, mut c) = start();

    let r = c.lookup(ROOT_ID, b".");

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn lookup_dotdot_at_root_stays_inside_share() {
    let (_d, mut c) = start();
    let root = c.getattr(ROOT_ID).unwrap();

    let r = c.lookup(ROOT_ID, b"..");

    match r {
        Err(e) => assert!(e == libc::EINVAL || e == libc::EPERM, "errno {e}"),
        Ok(e) => assert_eq!(e.attr.ino, root.attr.ino, "'..' of the root left the share"),
    }
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn lookup_name_with_embedded_nul_is_refused() {
    let (d, mut c) = start();
    fs::write(d.share().join("a"), b"").unwrap();

    let r = c.lookup(ROOT_ID, b"a\0b");

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn lookup_name_without_nul_terminator_is_refused() {
    let (d, mut c) = start();
    fs::write(d.share().join("abc"), b"").unwrap();

    let (out, _) = c.request(1, Opcode::Lookup as u32, ROOT_ID, &[b"abc"], 4096);

    assert!(
        out.error == -libc::EINVAL || out.error == -libc::EPERM,
        "error {}",
        out.error
    );
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn lookup_empty_name_is_refused() {
    let (_d, mut c) = start();

    let r = c.lookup(ROOT_ID, b"");

    assert!(r.is_err(), "empty name accepted: {r:?}");
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn overlong_name_is_refused() {
    let (_d, mut c) = start();

    let r = c.mkdir(ROOT_ID, &[b'x'; 300], 0o755);

    match r {
        Err(e) => assert!(
            [libc::EINVAL, libc::EPERM, libc::ENAMETOOLONG].contains(&e),
            "errno {e}"
        ),
        Ok(_) => panic!("300-byte name accepted"),
    }
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn mkdir_name_with_slash_is_refused() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("a")).unwrap();

    let r = c.mkdir(ROOT_ID, b"a/b", 0o755);

    assert_einval_or_eperm(r);
    assert!(!d.share().join("a/b").exists());
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn mkdir_dotdot_is_refused() {
    let (_d, mut c) = start();

    let r = c.mkdir(ROOT_ID, b"..", 0o755);

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn mkdir_dot_is_refused() {
    let (_d, mut c) = start();

    let r = c.mkdir(ROOT_ID, b".", 0o755);

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn create_name_with_embedded_nul_is_refused() {
    let (d, mut c) = start();

    let r = c.create(ROOT_ID, b"a\0b", libc::O_RDWR as u32, 0o644);

    assert_einval_or_eperm(r);
    assert!(!d.share().join("a").exists());
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn create_name_escaping_share_is_refused() {
    let (d, mut c) = start();

    let r = c.create(ROOT_ID, b"../escaped", libc::O_RDWR as u32, 0o644);

    assert_einval_or_eperm(r);
    assert!(!d.dirs.root.path().join("escaped").exists());
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn symlink_name_with_slash_is_refused() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("a")).unwrap();

    let r = c.symlink(ROOT_ID, b"a/l", b"target");

    assert_einval_or_eperm(r);
    assert!(fs::symlink_metadata(d.share().join("a/l")).is_err());
}

#[test]
fn mknod_dotdot_is_refused() {
    let (_d, mut c) = start();

    let r = c.mknod(ROOT_ID, b"..", libc::S_IFIFO | 0o644, 0);

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn rename_to_name_with_slash_is_refused() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    fs::create_dir(d.share().join("a")).unwrap();

    let r = c.rename(ROOT_ID, b"f", ROOT_ID, b"a/g");

    assert_einval_or_eperm(r);
    assert!(d.share().join("f").exists());
}

#[test]
fn rename_from_dotdot_is_refused() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("a")).unwrap();
    let a = c.lookup(ROOT_ID, b"a").unwrap();

    let r = c.rename(a.nodeid, b"..", ROOT_ID, b"moved");

    assert_einval_or_eperm(r);
    assert!(!d.share().join("moved").exists());
}

#[test]
fn link_name_dotdot_is_refused() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let f = c.lookup(ROOT_ID, b"f").unwrap();

    let r = c.link(f.nodeid, ROOT_ID, b"..");

    assert_einval_or_eperm(r);
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn unlink_dotdot_is_refused() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("a")).unwrap();
    let a = c.lookup(ROOT_ID, b"a").unwrap();

    let r = c.unlink(a.nodeid, b"..");

    assert_einval_or_eperm(r);
    assert!(d.share().exists());
}

#[test]
fn rmdir_dot_is_refused() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("a")).unwrap();
    let a = c.lookup(ROOT_ID, b"a").unwrap();

    let r = c.rmdir(a.nodeid, b".");

    assert_einval_or_eperm(r);
    assert!(d.share().join("a").exists());
}

#[test]
fn a_request_other_than_forget_on_the_high_priority_queue_is_refused_unexecuted() {
    let (_d, mut c) = start();
    let name = b"made-on-hiprio\0";
    let arg = abi::MkdirIn {
        mode: 0o755,
        umask: 0,
    };

    let (h, _) = c.request(
        0,
        Opcode::Mkdir as u32,
        ROOT_ID,
        &[arg.as_bytes(), name],
        size_of::<abi::EntryOut>() as u32,
    );

    assert_eq!(h.error, -libc::EINVAL, "MKDIR on queue 0 must be refused");
    assert_eq!(
        c.lookup(ROOT_ID, b"made-on-hiprio").err(),
        Some(libc::ENOENT)
    );
    assert!(
        c.forget(ROOT_ID, 1).is_some(),
        "FORGET after it was not taken"
    );
}
