//! AFL++ entry point of the `chain` target; the logic is in `epochfsd_fuzz::chain`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        epochfsd_fuzz::chain::run(data);
    });
}
