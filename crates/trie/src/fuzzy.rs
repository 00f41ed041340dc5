//! Typo-tolerant completion: completions of every string within one edit
//! (Levenshtein distance 1, counted in characters) of the typed prefix.
//!
//! The search walks the trie with the prefix, allowing at most one
//! deletion, substitution or insertion of a character on the way (a
//! Levenshtein automaton of distance 1, unrolled by hand). Each way to
//! reach the end of the prefix lands on a trie position whose subtree
//! holds matching terms; the answer is the top-k of the union of those
//! subtrees. Subtrees may nest (deleting the last character lands on an
//! ancestor), so the per-subtree top-k lists are merged with duplicates
//! removed: the union's top-k is always inside that merge, because a
//! term of the union's top-k is in the top-k of any subtree that holds it.

use crate::trie::{TopKTrie, NONE};

/// A position in the trie: inside the edge into `node`, `pos` bytes from
/// the root (`pos == depth(node)` means at the node itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    node: u32,
    pos: u32,
}

impl TopKTrie {
    /// The `k` heaviest terms that start with a string within edit distance
    /// 1 of `prefix` (one character inserted, deleted or substituted), or
    /// with `prefix` itself. Heaviest first, ties by term in byte order:
    /// exact and fuzzy matches are ranked by weight alone (a caller that
    /// prefers exact matches can ask [`top_k`](TopKTrie::top_k) first).
    ///
    /// Cost: `O(m * sigma)` trie walks of length `m` for a prefix of `m`
    /// characters and `sigma` distinct next characters at each step, then
    /// a cached top-k per landing position. Meant for prefixes a person
    /// types (tens of characters).
    ///
    /// ```
    /// use hld_trie::TopKTrie;
    /// let t: TopKTrie = [("receive", 90u64), ("recipe", 70), ("deceive", 5)].into_iter().collect();
    /// // "reci" -> "rece" (substitution) and "reci" itself.
    /// assert_eq!(t.top_k_fuzzy("reci", 2), vec![("receive".into(), 90), ("recipe".into(), 70)]);
    /// ```
    pub fn top_k_fuzzy(&self, prefix: &str, k: usize) -> Vec<(String, u64)> {
        if k == 0 {
            return Vec::new();
        }
        let chars: Vec<char> = prefix.chars().collect();
        let mut landed: Vec<u32> = Vec::new();
        self.fuzzy_walk(Cursor { node: 0, pos: 0 }, &chars, true, &mut landed);
        landed.sort_unstable();
        landed.dedup();
        let mut ids: Vec<u32> = Vec::new();
        for &v in &landed {
            ids.extend(self.node_top_k(v, k));
        }
        ids.sort_unstable();
        ids.dedup();
        // Heaviest first, ties by term: the order `better` ranks by.
        ids.sort_unstable_by_key(|&id| {
            let t = &self.terms[id as usize];
            (std::cmp::Reverse(t.weight), &t.text)
        });
        ids.truncate(k);
        ids.into_iter()
            .map(|id| {
                let t = &self.terms[id as usize];
                (t.text.to_string(), t.weight)
            })
            .collect()
    }

    fn fuzzy_walk(&self, at: Cursor, rest: &[char], edit: bool, out: &mut Vec<u32>) {
        let Some((&c, tail)) = rest.split_first() else {
            if self.subtree_nonempty(at.node) {
                out.push(at.node);
            }
            return;
        };
        if let Some(next) = self.step_char(at, c) {
            self.fuzzy_walk(next, tail, edit, out);
        }
        if edit {
            // Delete `c` from the prefix.
            self.fuzzy_walk(at, tail, false, out);
            for (d, next) in self.next_chars(at) {
                if d != c {
                    // Substitute `d` for `c`.
                    self.fuzzy_walk(next, tail, false, out);
                }
                // Insert `d` before `c`.
                self.fuzzy_walk(next, rest, false, out);
            }
        }
    }

    fn subtree_nonempty(&self, v: u32) -> bool {
        let n = &self.nodes[v as usize];
        n.slot == NONE || n.top_len > 0
    }

    /// The byte after cursor `at`, if the trie continues with `b`.
    fn step_byte(&self, at: Cursor, b: u8) -> Option<Cursor> {
        let n = &self.nodes[at.node as usize];
        if at.pos < n.depth {
            let label = self.label(at.node);
            let i = (at.pos - (n.depth - n.label_len)) as usize;
            (label[i] == b).then_some(Cursor {
                node: at.node,
                pos: at.pos + 1,
            })
        } else {
            let c = self.child(at.node, b)?;
            Some(Cursor {
                node: c,
                pos: at.pos + 1,
            })
        }
    }

    fn step_char(&self, at: Cursor, c: char) -> Option<Cursor> {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf)
            .as_bytes()
            .iter()
            .try_fold(at, |cur, &b| self.step_byte(cur, b))
    }

    /// Every byte that can follow cursor `at`.
    fn next_bytes(&self, at: Cursor) -> Vec<(u8, Cursor)> {
        let n = &self.nodes[at.node as usize];
        if at.pos < n.depth {
            let label = self.label(at.node);
            let b = label[(at.pos - (n.depth - n.label_len)) as usize];
            vec![(
                b,
                Cursor {
                    node: at.node,
                    pos: at.pos + 1,
                },
            )]
        } else {
            n.children
                .iter()
                .map(|&(b, c)| {
                    (
                        b,
                        Cursor {
                            node: c,
                            pos: at.pos + 1,
                        },
                    )
                })
                .collect()
        }
    }

    /// Every whole character that can follow cursor `at` (which sits on a
    /// character boundary), with the cursor after it.
    fn next_chars(&self, at: Cursor) -> Vec<(char, Cursor)> {
        let mut out = Vec::new();
        let mut stack: Vec<([u8; 4], usize, Cursor)> = vec![([0; 4], 0, at)];
        while let Some((buf, n, cur)) = stack.pop() {
            if n > 0 {
                let want = utf8_len(buf[0]);
                if n == want {
                    if let Some(ch) = std::str::from_utf8(&buf[..n])
                        .ok()
                        .and_then(|s| s.chars().next())
                    {
                        out.push((ch, cur));
                    }
                    continue;
                }
            }
            for (b, next) in self.next_bytes(cur) {
                if n < 4 {
                    let mut nb = buf;
                    nb[n] = b;
                    stack.push((nb, n + 1, next));
                }
            }
        }
        out
    }
}

/// Length of the UTF-8 sequence starting with lead byte `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}
