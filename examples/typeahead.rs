//! The type-ahead suggester alone: `cargo run --release --example typeahead`.
//! See `systems/typeahead.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/typeahead.rs"]
mod typeahead;

fn main() {
    let r = typeahead::run(&typeahead::Config::default());
    println!("{}", r.table);
}
