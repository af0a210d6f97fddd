import Foundation

/// A registry record (`members/*`, `claims/*`, `names/*`) whose value is not what its key says:
/// where, and why.
public struct RegistryRecordError: Error, Sendable, CustomStringConvertible {
    /// `etcd:/portcullis/members/proxy-a`.
    public let place: String
    public let reason: String

    public init(place: String, reason: String) {
        self.place = place
        self.reason = reason
    }

    public var description: String { "\(place): \(reason)" }
}

/// A record the registry writes as JSON, read back by the registry, by peering and by
/// `policyctl cluster`: one decoder for all of them, with one wording for what is wrong.
public protocol RegistryRecord: Codable, Sendable {
    /// Fields that are numbers and must not be negative.
    static var counts: [String] { get }
    /// What is wrong with a value that decoded, if anything (a field out of range).
    var problem: String? { get }
}

extension RegistryRecord {
    /// Reads `bytes` as this record; a value that is not one is a ``RegistryRecordError`` at `place`
    /// naming the first field that is missing or of the wrong type.
    public static func decode(_ bytes: [UInt8], place: String) throws(RegistryRecordError) -> Self {
        let record: Self
        do {
            record = try JSONDecoder().decode(Self.self, from: Data(bytes))
        } catch DecodingError.keyNotFound(let key, _) {
            throw RegistryRecordError(place: place, reason: "no \"\(key.stringValue)\"")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw RegistryRecordError(place: place, reason: fieldProblem(context))
        } catch DecodingError.dataCorrupted(let context) {
            throw RegistryRecordError(place: place, reason: context.codingPath.isEmpty ? "the value is not JSON" : fieldProblem(context))
        } catch {
            throw RegistryRecordError(place: place, reason: "the value is not JSON")
        }
        if let problem = record.problem { throw RegistryRecordError(place: place, reason: problem) }
        return record
    }

    private static func fieldProblem(_ context: DecodingError.Context) -> String {
        guard let field = context.codingPath.first?.stringValue else { return "the value is not a JSON object" }
        return counts.contains(field) ? "\"\(field)\" is not a whole number >= 0" : "\"\(field)\" is not a string"
    }
}

extension ClaimHolder: RegistryRecord {
    public static var counts: [String] { ["session"] }
    public var problem: String? { nil }
}

extension NameRecord: RegistryRecord {
    public static var counts: [String] { ["session", "port"] }
    public var problem: String? { (0...65535).contains(port) ? nil : "\"port\" is not a port (0 to 65535)" }
}

extension MemberRecord: RegistryRecord {
    public static var counts: [String] { ["sessions"] }
    public var problem: String? { sessions >= 0 ? nil : "\"sessions\" is not a whole number >= 0" }
}
