#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// A binary heap of stream indexes by head time. Ties go by index: lower
/// first oldest first, higher first newest first, so that reading newest
/// first (`--reverse`, `--last`) is exactly the forward order backwards.
struct StreamHeap {
    let newestFirst: Bool
    private var items: [(order: Double, stream: Int)] = []

    init(newestFirst: Bool) { self.newestFirst = newestFirst }

    private func before(_ a: (order: Double, stream: Int), _ b: (order: Double, stream: Int)) -> Bool {
        if a.order != b.order { return newestFirst ? a.order > b.order : a.order < b.order }
        return newestFirst ? a.stream > b.stream : a.stream < b.stream
    }

    mutating func push(_ stream: Int, _ order: Double) {
        items.append((order, stream))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !before(items[i], items[parent]) { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Int? {
        guard !items.isEmpty else { return nil }
        let top = items[0].stream
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && before(items[l], items[best]) { best = l }
                if r < items.count && before(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
