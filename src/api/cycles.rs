//! Finding a cycle of fragment spreads in a document, to name it in the error: async-graphql
//! refuses such a document while parsing (its nesting guard trips) with a message that does not
//! say why. Iterative, since a hostile document may chain tens of thousands of fragments.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// A chain of fragments that spreads its first one again, if the document has one. Linear in
/// the document's size.
pub fn fragment_cycle(doc: &ExecutableDocument) -> Option<Vec<String>> {
    let edges: HashMap<&str, Vec<&str>> = doc
        .fragments
        .iter()
        .map(|(name, f)| (name.as_str(), spreads(&f.node.selection_set.node)))
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for root in edges.keys() {
        if marks.contains_key(root) {
            continue;
        }
        // Depth-first, with the path as an explicit stack of (fragment, next edge).
        let mut path: Vec<(&str, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::OnPath);
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(&child) = edges.get(node).and_then(|e| e.get(*next)) else {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            };
            *next += 1;
            match marks.get(child) {
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(n, _)| *n == child).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                    cycle.push(child.to_owned());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                // Spreading a fragment that is not defined is another error.
                None if !edges.contains_key(child) => {}
                None => {
                    marks.insert(child, Mark::OnPath);
                    path.push((child, 0));
                }
            }
        }
    }
    None
}

/// The fragments a selection set spreads, at any depth.
fn spreads(set: &SelectionSet) -> Vec<&str> {
    let mut out = Vec::new();
    let mut sets = vec![set];
    while let Some(set) = sets.pop() {
        for s in &set.items {
            match &s.node {
                Selection::Field(f) => sets.push(&f.node.selection_set.node),
                Selection::FragmentSpread(f) => out.push(f.node.fragment_name.node.as_str()),
                Selection::InlineFragment(f) => sets.push(&f.node.selection_set.node),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle_of(query: &str) -> Option<Vec<String>> {
        fragment_cycle(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn fragment_cycles_are_found_without_recursion() {
        let cycle = cycle_of("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
            .expect("a cycle");
        assert_eq!(cycle.len(), 3, "{cycle:?}");
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(
            cycle_of("{ ...A } fragment A on Query { x { ...B } } fragment B on Query { y }"),
            None
        );
        // A chain of 50,000 fragments, closed into a cycle: found, without a deep stack.
        let n = 50_000;
        let mut q = String::from("{ ...f0 }");
        for i in 0..n {
            q.push_str(&format!(
                " fragment f{i} on Query {{ ...f{} }}",
                (i + 1) % n
            ));
        }
        let cycle = cycle_of(&q).expect("a cycle");
        assert_eq!(cycle.len(), n + 1);
        assert_eq!(cycle.first(), cycle.last());
    }
}
