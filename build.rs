//! Registers the upstream subgraph's SDL (the part the mirror uses, from the
//! `tokenmirror-subgraph` crate) with cynic, so that every upstream query in
//! `src/sync/queries.rs` is checked against it at compile time.

fn main() {
    println!("cargo:rerun-if-changed=subgraph/upstream.graphql");
    cynic_codegen::register_schema("uniswap")
        .from_sdl(tokenmirror_subgraph::SDL)
        .expect("the upstream SDL parses")
        .as_default()
        .expect("the upstream SDL registers with cynic");
}
