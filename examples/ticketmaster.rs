//! TicketMaster alone: `cargo run --release --example ticketmaster`.
//! See `systems/ticketmaster.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/ticketmaster.rs"]
mod ticketmaster;

fn main() {
    let r = ticketmaster::run(&ticketmaster::Config::default());
    println!("{}", r.table);
}
