//! AFL++ entry point of the `epoch_model` target; the logic is in `epochfsd_fuzz::epoch_model`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        epochfsd_fuzz::epoch_model::run(data);
    });
}
