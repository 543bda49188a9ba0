/work/main/tests/slowfs/target/debug/deps/slowfs-4a223e6fbfacf58e.d: src/main.rs

/work/main/tests/slowfs/target/debug/deps/libslowfs-4a223e6fbfacf58e.rmeta: src/main.rs

src/main.rs:
