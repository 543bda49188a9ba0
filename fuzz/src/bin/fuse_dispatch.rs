//! AFL++ entry point of the `fuse_dispatch` target; the logic is in `epochfsd_fuzz::fuse_dispatch`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        epochfsd_fuzz::fuse_dispatch::run(data);
    });
}
