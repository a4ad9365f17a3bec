//! The `convcheck` binary: everything lives in the library; this only hands over to the CLI.

/// mimalloc instead of the system allocator: a run allocates and frees many page bodies of
/// hundreds of kilobytes from many threads at once, where glibc's malloc spent a third of
/// the CPU time consolidating and unlinking chunks. Built without transparent huge pages
/// (`no_thp` in `Cargo.toml`), which held a run's memory in 2 MiB pieces.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    convcheck::cli::main()
}
