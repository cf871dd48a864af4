/// The activity windows `stats --window` counts messages in, as typed:
/// `1m,1h,24h`. Each is a duration longer than 0; a label appears once (it
/// is a JSON key).
public struct WindowList: Sendable, Equatable, CustomStringConvertible {
    /// One window: its label as typed (`1h`) and its length.
    public struct Window: Sendable, Equatable {
        public let label: String
        public let span: Span
    }

    public let windows: [Window]

    /// `1m,1h,24h`.
    public static let standard = WindowList(windows: [
        Window(label: "1m", span: .seconds(60)), Window(label: "1h", span: .seconds(3600)), Window(label: "24h", span: .seconds(86_400)),
    ])

    private init(windows: [Window]) { self.windows = windows }

    /// Parses a comma-separated list; says what is wrong otherwise.
    public init(parsing text: String) throws(ValueError) {
        var windows: [Window] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let label = String(decoding: ValueScanner(String(part)).bytes, as: UTF8.self)
            guard !label.isEmpty else { throw ValueError("an empty window: use e.g. 1m,1h,24h") }
            let span: Span
            do { span = try Span(parsing: label) } catch { throw ValueError("'\(label)' is \(error.reason)") }
            guard span > .zero else { throw ValueError("'\(label)' is no window: a window is longer than 0") }
            guard !windows.contains(where: { $0.label == label }) else {
                throw ValueError("'\(label)' is listed twice: each window is named once")
            }
            windows.append(Window(label: label, span: span))
        }
        self.windows = windows
    }

    public var description: String { windows.map(\.label).joined(separator: ",") }
}
