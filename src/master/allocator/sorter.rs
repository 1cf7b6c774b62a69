//! The DRF sorter: orders clients (roles, or the frameworks of one role) by
//! dominant resource share, as Mesos's `DRFSorter`.
//!
//! Clients sit at the leaves of a tree built from their `/`-separated paths
//! (`eng`, `eng/ci`, ...). A client whose path is also a prefix of another
//! client's path is represented by a virtual leaf named `.` under the
//! internal node. Every node carries the scalar quantities allocated to its
//! subtree; its share is the largest fraction of any cluster total it holds,
//! divided by the weight configured for its path. Siblings are kept sorted
//! by (share, times allocated, path); [`Sorter::sort`] lists the active
//! leaves in pre-order, which gives hierarchical DRF: the least-served
//! subtree first, and within it the least-served client.
//!
//! Inactive leaves (deactivated or suppressed clients) stay in the tree,
//! with their allocations, after the active siblings, and are not listed.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::qty::Qty;

/// Identifies a client of a sorter (a role index or a framework index).
pub(crate) type ClientId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ActiveLeaf,
    InactiveLeaf,
    Internal,
}

#[derive(Clone, Debug)]
struct Node {
    /// Edge label from the parent; `.` for a virtual leaf.
    name: Box<str>,
    /// Full path, used for weights and as the last tie-breaker.
    path: Arc<str>,
    /// The path's first 8 bytes, big-endian and zero-padded: compares like
    /// the path unless equal.
    path_key: u64,
    kind: Kind,
    parent: Option<usize>,
    children: Vec<usize>,
    share: f64,
    weight: Option<f64>,
    alloc: Qty,
    /// How many times the subtree was allocated to (tie-breaker).
    count: u64,
    client: Option<ClientId>,
}

impl Node {
    fn new(name: &str, path: Arc<str>, kind: Kind, parent: Option<usize>) -> Node {
        let mut prefix = [0u8; 8];
        let n = path.len().min(8);
        prefix[..n].copy_from_slice(&path.as_bytes()[..n]);
        Node {
            name: name.into(),
            path_key: u64::from_be_bytes(prefix),
            path,
            kind,
            parent,
            children: Vec::new(),
            share: 0.0,
            weight: None,
            alloc: Qty::default(),
            count: 0,
            client: None,
        }
    }

    fn is_leaf(&self) -> bool {
        self.kind != Kind::Internal
    }
}

/// What shares are computed against: the cluster total of each resource
/// that counts for fairness (positive, and not in
/// `--fair_sharing_excluded_resource_names`), as `(name index, total)`.
pub(crate) struct ShareBasis<'a> {
    pub(crate) totals: std::borrow::Cow<'a, [(usize, f64)]>,
}

/// The `(name index, total)` pairs a [`ShareBasis`] holds.
pub(crate) fn fair_totals(total: &Qty, excluded: &[bool]) -> Vec<(usize, f64)> {
    total
        .iter()
        .filter(|&(i, v)| v > 0 && !excluded.get(i).copied().unwrap_or(false))
        .map(|(i, v)| (i, v as f64))
        .collect()
}

/// A hierarchical DRF sorter.
#[derive(Clone, Debug)]
pub(crate) struct Sorter {
    nodes: Vec<Node>,
    free: Vec<usize>,
    clients: FxHashMap<ClientId, usize>,
    weights: FxHashMap<Arc<str>, f64>,
    /// Shares or order must be recomputed before the next `sort`.
    dirty: bool,
    order: Vec<ClientId>,
    order_valid: bool,
    /// Internal nodes besides the root; with none, the order is the root's
    /// active children and can be kept up to date move by move.
    internal: usize,
}

const ROOT: usize = 0;

impl Default for Sorter {
    fn default() -> Self {
        Sorter {
            nodes: vec![Node::new("", "".into(), Kind::Internal, None)],
            free: Vec::new(),
            clients: FxHashMap::default(),
            weights: FxHashMap::default(),
            dirty: false,
            order: Vec::new(),
            order_valid: true,
            internal: 0,
        }
    }
}

impl Sorter {
    fn new_node(&mut self, name: &str, kind: Kind, parent: usize) -> usize {
        let parent_path = &self.nodes[parent].path;
        let path: Arc<str> = if parent == ROOT { name.into() } else { format!("{parent_path}/{name}").into() };
        let node = Node::new(name, path, kind, Some(parent));
        if kind == Kind::Internal {
            self.internal += 1;
        }
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.add_child(parent, idx);
        idx
    }

    /// Inactive leaves go last; others first (the caller dirties the order).
    fn add_child(&mut self, parent: usize, child: usize) {
        if self.nodes[child].kind == Kind::InactiveLeaf {
            self.nodes[parent].children.push(child);
        } else {
            self.nodes[parent].children.insert(0, child);
        }
    }

    fn remove_child(&mut self, parent: usize, child: usize) {
        let children = &mut self.nodes[parent].children;
        if let Some(pos) = children.iter().position(|&c| c == child) {
            children.remove(pos);
        }
    }

    fn reposition(&mut self, node: usize) {
        if let Some(parent) = self.nodes[node].parent {
            self.remove_child(parent, node);
            self.add_child(parent, node);
        }
    }

    /// Adds an (inactive) client at `path`.
    pub(crate) fn add(&mut self, client: ClientId, path: &str) {
        debug_assert!(!self.clients.contains_key(&client));
        let tokens: Vec<&str> = path.split('/').collect();
        let mut current = ROOT;
        let mut i = 0;
        loop {
            if i == tokens.len() {
                // The path names an internal node: give it a virtual leaf.
                current = self.new_node(".", Kind::InactiveLeaf, current);
                break;
            }
            if current != ROOT && self.nodes[current].is_leaf() {
                // A client's path is a prefix of the new one: the client
                // moves down into a virtual leaf.
                let old_kind = self.nodes[current].kind;
                self.nodes[current].kind = Kind::Internal;
                self.internal += 1;
                self.reposition(current);
                let old_client = self.nodes[current].client.take();
                let virt = self.new_node(".", old_kind, current);
                self.nodes[virt].alloc = self.nodes[current].alloc.clone();
                self.nodes[virt].count = self.nodes[current].count;
                self.nodes[virt].client = old_client;
                if let Some(c) = old_client {
                    self.clients.insert(c, virt);
                }
                break;
            }
            let next = self.nodes[current].children.iter().copied().find(|&c| &*self.nodes[c].name == tokens[i]);
            match next {
                Some(child) => {
                    current = child;
                    i += 1;
                }
                None => break,
            }
        }
        for (j, token) in tokens.iter().enumerate().skip(i) {
            let kind = if j + 1 == tokens.len() { Kind::InactiveLeaf } else { Kind::Internal };
            current = self.new_node(token, kind, current);
        }
        self.nodes[current].client = Some(client);
        self.clients.insert(client, current);
        self.dirty = true;
        self.order_valid = false;
    }

    /// Removes a client and prunes the nodes it leaves behind.
    pub(crate) fn remove(&mut self, client: ClientId) {
        let Some(mut current) = self.clients.remove(&client) else { return };
        let leaf_alloc = self.nodes[current].alloc.clone();
        while current != ROOT {
            let parent = self.nodes[current].parent.unwrap_or(ROOT);
            self.nodes[parent].alloc.sub(&leaf_alloc);
            let children = self.nodes[current].children.clone();
            if children.is_empty() {
                self.remove_child(parent, current);
                if self.nodes[current].kind == Kind::Internal {
                    self.internal -= 1;
                }
                self.free.push(current);
            } else if let [only] = children[..] {
                if &*self.nodes[only].name == "." {
                    // Collapse the virtual leaf back into its parent.
                    let kind = self.nodes[only].kind;
                    let moved = self.nodes[only].client.take();
                    self.nodes[current].kind = kind;
                    self.internal -= 1;
                    self.nodes[current].children.clear();
                    self.nodes[current].client = moved;
                    self.free.push(only);
                    self.reposition(current);
                    if let Some(c) = moved {
                        self.clients.insert(c, current);
                    }
                }
            }
            current = parent;
        }
        self.dirty = true;
        self.order_valid = false;
    }

    /// Lists the client in `sort` again.
    pub(crate) fn activate(&mut self, client: ClientId) {
        if self.switch_leaf(client, Kind::InactiveLeaf, Kind::ActiveLeaf) {
            // Its share may be stale: sort again.
            self.dirty = true;
        }
    }

    /// Keeps the client (and its allocation) but stops listing it.
    pub(crate) fn deactivate(&mut self, client: ClientId) {
        // The others stay sorted.
        self.switch_leaf(client, Kind::ActiveLeaf, Kind::InactiveLeaf);
    }

    fn switch_leaf(&mut self, client: ClientId, from: Kind, to: Kind) -> bool {
        let Some(&node) = self.clients.get(&client) else { return false };
        if self.nodes[node].kind != from {
            return false;
        }
        self.nodes[node].kind = to;
        self.reposition(node);
        self.order_valid = false;
        true
    }

    /// Sets the weight of a path (which need not exist yet).
    pub(crate) fn update_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.into(), weight);
        for node in &mut self.nodes {
            node.weight = None;
        }
        self.dirty = true;
        self.order_valid = false;
    }

    /// True if the client is in the sorter.
    pub(crate) fn contains(&self, client: ClientId) -> bool {
        self.clients.contains_key(&client)
    }

    /// Number of clients.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.clients.len()
    }

    /// The quantities allocated to a client.
    #[cfg(test)]
    pub(crate) fn allocation(&self, client: ClientId) -> Option<&Qty> {
        self.clients.get(&client).map(|&n| &self.nodes[n].alloc)
    }

    /// The quantities allocated to all clients.
    pub(crate) fn total_allocation(&self) -> &Qty {
        &self.nodes[ROOT].alloc
    }

    /// Shares must be recomputed (cluster totals changed).
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
        self.order_valid = false;
    }

    fn weight(&mut self, node: usize) -> f64 {
        if let Some(w) = self.nodes[node].weight {
            return w;
        }
        let w = self.weights.get(&*self.nodes[node].path).copied().unwrap_or(1.0);
        self.nodes[node].weight = Some(w);
        w
    }

    fn share(&mut self, node: usize, basis: &ShareBasis<'_>) -> f64 {
        let alloc = &self.nodes[node].alloc;
        let mut share: f64 = 0.0;
        for &(i, total) in basis.totals.iter() {
            share = share.max(alloc.get(i) as f64 / total);
        }
        share / self.weight(node)
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        if x.share != y.share {
            return x.share < y.share;
        }
        if x.count != y.count {
            return x.count < y.count;
        }
        if x.path_key != y.path_key {
            return x.path_key < y.path_key;
        }
        x.path < y.path
    }

    /// Records an allocation to a client. If the tree is sorted, the
    /// client and its ancestors move to their new places at once.
    pub(crate) fn allocated(&mut self, client: ClientId, qty: &Qty, basis: &ShareBasis<'_>) {
        let Some(&leaf) = self.clients.get(&client) else { return };
        let mut current = leaf;
        let mut moved = None;
        loop {
            let parent = self.nodes[current].parent;
            // Where the node sits now, found with its old sort key.
            let sorted = !self.dirty && self.nodes[current].kind != Kind::InactiveLeaf;
            let from = match parent {
                Some(p) if sorted => Some(self.position(p, current)),
                _ => None,
            };
            let node = &mut self.nodes[current];
            node.alloc.add(qty);
            node.count += 1;
            let Some(parent) = parent else { break };
            if let Some(from) = from {
                let share = self.share(current, basis);
                self.nodes[current].share = share;
                moved = Some((from, self.move_to_sorted_place(parent, current, from)));
            }
            current = parent;
        }
        match moved {
            // A flat tree lists the root's active children in order: mirror
            // the move instead of listing again.
            Some((from, to)) if self.internal == 0 && self.order_valid && from < self.order.len() => {
                let c = self.order.remove(from);
                self.order.insert(to, c);
            }
            _ => self.order_valid = false,
        }
    }

    /// Index of `node` among its parent's children (sorted, active).
    fn position(&self, parent: usize, node: usize) -> usize {
        let children = &self.nodes[parent].children;
        let guess = children.partition_point(|&c| self.nodes[c].kind != Kind::InactiveLeaf && self.less(c, node));
        if children.get(guess) == Some(&node) {
            guess
        } else {
            children.iter().position(|&c| c == node).unwrap_or(0)
        }
    }

    /// Moves `node` from `from` to its sorted place among the active
    /// children (the others are sorted); returns the new index.
    fn move_to_sorted_place(&mut self, parent: usize, node: usize, from: usize) -> usize {
        let mut children = std::mem::take(&mut self.nodes[parent].children);
        children.remove(from);
        let active = children.partition_point(|&c| self.nodes[c].kind != Kind::InactiveLeaf);
        let to = children[..active].partition_point(|&c| self.less(c, node));
        children.insert(to, node);
        self.nodes[parent].children = children;
        to
    }

    /// Records that a client gave resources back.
    pub(crate) fn unallocated(&mut self, client: ClientId, qty: &Qty) {
        let Some(&leaf) = self.clients.get(&client) else { return };
        let mut current = Some(leaf);
        while let Some(n) = current {
            self.nodes[n].alloc.sub(qty);
            current = self.nodes[n].parent;
        }
        self.dirty = true;
        self.order_valid = false;
    }

    /// Replaces part of a client's allocation (an operation changed it).
    pub(crate) fn update(&mut self, client: ClientId, old: &Qty, new: &Qty) {
        let Some(&leaf) = self.clients.get(&client) else { return };
        let mut current = Some(leaf);
        while let Some(n) = current {
            self.nodes[n].alloc.sub(old);
            self.nodes[n].alloc.add(new);
            current = self.nodes[n].parent;
        }
        self.dirty = true;
        self.order_valid = false;
    }

    fn sort_tree(&mut self, node: usize, basis: &ShareBasis<'_>) {
        let children = std::mem::take(&mut self.nodes[node].children);
        let active = children.iter().take_while(|&&c| self.nodes[c].kind != Kind::InactiveLeaf).count();
        for &c in &children[..active] {
            let share = self.share(c, basis);
            self.nodes[c].share = share;
        }
        let mut children = children;
        children[..active].sort_by(|&a, &b| {
            if self.less(a, b) {
                std::cmp::Ordering::Less
            } else if self.less(b, a) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        self.nodes[node].children = children;
        for i in 0..active {
            let c = self.nodes[node].children[i];
            if self.nodes[c].kind == Kind::Internal {
                self.sort_tree(c, basis);
            }
        }
    }

    fn list(&self, node: usize, out: &mut Vec<ClientId>) {
        for &c in &self.nodes[node].children {
            match self.nodes[c].kind {
                Kind::ActiveLeaf => out.extend(self.nodes[c].client),
                Kind::InactiveLeaf => return,
                Kind::Internal => self.list(c, out),
            }
        }
    }

    /// The order computed by the last [`Sorter::sort`]. Allocations made
    /// since do not change it (Mesos iterates over such a snapshot too).
    pub(crate) fn last_order(&self) -> &[ClientId] {
        &self.order
    }

    /// The active clients in DRF order.
    pub(crate) fn sort(&mut self, basis: &ShareBasis<'_>) -> &[ClientId] {
        if self.dirty {
            self.sort_tree(ROOT, basis);
            self.dirty = false;
            self.order_valid = false;
        }
        if !self.order_valid {
            let mut order = std::mem::take(&mut self.order);
            order.clear();
            self.list(ROOT, &mut order);
            self.order = order;
            self.order_valid = true;
        }
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qty(v: &[i64]) -> Qty {
        let mut q = Qty::default();
        for (i, &x) in v.iter().enumerate() {
            q.add_at(i, x);
        }
        q
    }

    /// A sorter with these active clients.
    fn sorter(clients: &[(ClientId, &str)]) -> Sorter {
        let mut s = Sorter::default();
        for &(c, p) in clients {
            s.add(c, p);
            s.activate(c);
        }
        s
    }

    fn basis(total: &Qty) -> ShareBasis<'static> {
        ShareBasis { totals: fair_totals(total, &[]).into() }
    }

    #[test]
    fn orders_by_dominant_share() {
        let total = qty(&[100, 1000]);
        let mut s = sorter(&[(1, "a"), (2, "b"), (3, "c")]);
        s.allocated(1, &qty(&[10, 0]), &basis(&total)); // 10%
        s.allocated(2, &qty(&[0, 50]), &basis(&total)); // 5%
        assert_eq!(s.sort(&basis(&total)), &[3, 2, 1]);
        // Incremental updates keep the order.
        s.allocated(3, &qty(&[20, 0]), &basis(&total)); // 20%
        assert_eq!(s.sort(&basis(&total)), &[2, 1, 3]);
        s.unallocated(3, &qty(&[20, 0]));
        assert_eq!(s.sort(&basis(&total)), &[3, 2, 1]);
    }

    #[test]
    fn ties_break_on_allocation_count_then_path() {
        let total = qty(&[100]);
        let mut s = sorter(&[(1, "b"), (2, "a")]);
        assert_eq!(s.sort(&basis(&total)), &[2, 1]);
        s.allocated(2, &qty(&[0]), &basis(&total));
        assert_eq!(s.sort(&basis(&total)), &[1, 2]);
    }

    #[test]
    fn weights_divide_shares() {
        let total = qty(&[100]);
        let mut s = sorter(&[(1, "a"), (2, "b")]);
        s.update_weight("a", 3.0);
        s.allocated(1, &qty(&[30]), &basis(&total)); // 0.3 / 3 = 0.1
        s.allocated(2, &qty(&[20]), &basis(&total)); // 0.2
        assert_eq!(s.sort(&basis(&total)), &[1, 2]);
    }

    #[test]
    fn inactive_clients_keep_allocation_but_are_not_listed() {
        let total = qty(&[100]);
        let mut s = sorter(&[(1, "a"), (2, "b")]);
        s.allocated(1, &qty(&[10]), &basis(&total));
        s.deactivate(1);
        assert_eq!(s.sort(&basis(&total)), &[2]);
        assert_eq!(s.total_allocation().get(0), 10);
        s.activate(1);
        assert_eq!(s.sort(&basis(&total)), &[2, 1]);
    }

    #[test]
    fn hierarchy_sorts_subtrees_first() {
        let total = qty(&[100]);
        let mut s = sorter(&[(1, "a/x"), (2, "a/y"), (3, "b"), (4, "a")]);
        // Subtree "a" holds 30, "b" holds 20: "b" first.
        s.allocated(1, &qty(&[30]), &basis(&total));
        s.allocated(3, &qty(&[20]), &basis(&total));
        s.mark_dirty();
        let order = s.sort(&basis(&total)).to_vec();
        assert_eq!(order[0], 3);
        // Inside "a": the virtual leaf for client "a" and "a/y" hold nothing.
        assert_eq!(&order[3..], &[1]);
        // Removing the deeper clients collapses the virtual leaf.
        s.remove(1);
        s.remove(2);
        assert!(s.contains(4));
        assert_eq!(s.sort(&basis(&total)), &[4, 3]);
        assert_eq!(s.allocation(4).unwrap().get(0), 0);
        assert_eq!(s.total_allocation().get(0), 20);
    }

    #[test]
    fn prefix_client_added_after_child_keeps_allocations() {
        let total = qty(&[100]);
        let mut s = Sorter::default();
        s.add(1, "a");
        s.activate(1);
        s.allocated(1, &qty(&[40]), &basis(&total));
        s.add(2, "a/b");
        s.activate(2);
        assert_eq!(s.allocation(1).unwrap().get(0), 40);
        s.remove(2);
        assert_eq!(s.allocation(1).unwrap().get(0), 40);
        assert_eq!(s.count(), 1);
    }

    proptest::proptest! {
        /// Keeping the order up to date move by move gives the same order
        /// as sorting from scratch (Mesos's two code paths).
        #[test]
        fn incremental_order_equals_full_sort(
            hierarchical in proptest::bool::ANY,
            ops in proptest::collection::vec((0u32..12, 0i64..30, 0u8..10), 1..60),
        ) {
            let total = qty(&[200, 300]);
            let mut s = Sorter::default();
            for c in 0..12u32 {
                let path = if hierarchical { format!("g{}/c{c:02}", c % 3) } else { format!("c{c:02}") };
                s.add(c, &path);
                s.activate(c);
            }
            s.sort(&basis(&total));
            for (client, amount, action) in ops {
                match action {
                    0 => s.deactivate(client),
                    1 => s.activate(client),
                    _ => s.allocated(client, &qty(&[amount, 30 - amount]), &basis(&total)),
                }
                let incremental = s.sort(&basis(&total)).to_vec();
                let mut fresh = s.clone();
                fresh.mark_dirty();
                proptest::prop_assert_eq!(incremental, fresh.sort(&basis(&total)).to_vec());
            }
        }
    }
}
