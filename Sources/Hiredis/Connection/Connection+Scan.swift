extension Connection {
    /// Every key matching `pattern`, by SCAN (never KEYS), page after page
    /// until the cursor comes back to 0. `first` is a page already read
    /// (sent in a pipeline with other commands); the scan goes on from its
    /// cursor. Returns the keys (a key may repeat, as SCAN allows) and how
    /// many round trips it took. A refused SCAN throws `.server`.
    public func scanAll(match pattern: [UInt8], count: Int = 1000, continuing first: ScanPage? = nil) throws(RedisError) -> (keys: [[UInt8]], roundTrips: Int) {
        var keys = first?.keys ?? []
        var cursor = first?.cursor ?? ScanPage.start
        var roundTrips = 0
        if first?.isLast == true { return (keys, 0) }
        repeat {
            let page = try ScanPage(command(.scan(cursor: cursor, match: pattern, count: count)))
            roundTrips += 1
            keys += page.keys
            cursor = page.cursor
        } while cursor != ScanPage.start
        return (keys, roundTrips)
    }
}
