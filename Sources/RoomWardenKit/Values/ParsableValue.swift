/// A value typed on the command line that is parsed and range-checked in
/// one place, its initializer: Span, ByteCount, Count, TimePoint, WindowList.
public protocol ParsableValue: Sendable {
    /// Parses `text`; says what is wrong otherwise.
    init(parsing text: String) throws(ValueError)
}

extension Span: ParsableValue {}
extension ByteCount: ParsableValue {}
extension Count: ParsableValue {}
extension TimePoint: ParsableValue {}
extension WindowList: ParsableValue {}
