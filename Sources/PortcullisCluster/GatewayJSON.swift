import Foundation

/// The v3 JSON gateway's encoding: bytes as base64, int64 as decimal strings, zero fields omitted.
enum GatewayJSON {
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        // Only dictionaries of strings, numbers, booleans and nested dictionaries/arrays are built here.
        Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8))
    }

    static func decode(_ bytes: [UInt8], from endpoint: EtcdEndpoint) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw EtcdError.badResponse(endpoint, "not a JSON object: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        return object
    }

    /// An int64 field, given as a string (or, leniently, a number); 0 when absent.
    static func int(_ object: [String: Any]?, _ name: String) -> Int64 {
        switch object?[name] {
        case let text as String: return Int64(text) ?? 0
        case let number as NSNumber: return number.int64Value
        default: return 0
        }
    }

    static func bytes(_ object: [String: Any]?, _ name: String, _ endpoint: EtcdEndpoint) throws -> [UInt8] {
        guard let text = object?[name] as? String else { return [] }
        guard let data = Data(base64Encoded: text) else { throw EtcdError.badResponse(endpoint, "\(name) is not base64") }
        return Array(data)
    }

    static func keyValue(_ object: [String: Any], _ endpoint: EtcdEndpoint) throws -> KeyValue {
        let lease = int(object, "lease")
        return KeyValue(key: try bytes(object, "key", endpoint), value: try bytes(object, "value", endpoint),
                        createRevision: int(object, "create_revision"), modRevision: int(object, "mod_revision"),
                        version: int(object, "version"), lease: lease == 0 ? nil : LeaseID(lease))
    }

    static func revision(_ object: [String: Any]) -> EtcdRevision { int(object["header"] as? [String: Any], "revision") }

    /// etcd's error, from a non-200 gateway answer or a streamed `{"error": {...}}`.
    static func serverError(_ endpoint: EtcdEndpoint, status: Int, body: [UInt8]) -> EtcdError {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        let nested = object?["error"] as? [String: Any]
        let message = (nested?["message"] as? String) ?? (object?["message"] as? String)
            ?? (object?["error"] as? String) ?? String(decoding: body.prefix(300), as: UTF8.self)
        let code = (nested?["grpc_code"] as? NSNumber ?? object?["code"] as? NSNumber)?.intValue
        let httpStatus = (nested?["http_code"] as? NSNumber)?.intValue ?? status
        return .server(endpoint, status: httpStatus, code: code, message: message)
    }

    /// The exclusive end of the range of keys starting with `prefix` (etcd's "prefix + 1").
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff { end[end.count - 1] = last + 1; return end }
            end.removeLast()
        }
        return [0]    // every key
    }
}
