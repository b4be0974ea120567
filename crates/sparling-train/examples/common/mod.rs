//! Helpers shared by the diagnostic examples (not an example itself: Cargo only builds
//! `examples/*.rs` and `examples/*/main.rs`).

/// The value after `name` on the command line, parsed, or `default` when absent.
///
/// # Panics
/// When the value does not parse: these are diagnostics run by hand.
pub fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}"))
        })
        .unwrap_or(default)
}
