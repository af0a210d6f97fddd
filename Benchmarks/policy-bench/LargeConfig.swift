import Foundation
import PortcullisPolicy

/// A configuration like a big proxy's: `keys` keys of 20 rules each (3 permit_listen, 5 permit_open,
/// 6 permit_streamlocal_listen, 6 permit_streamlocal_open), with distinct ed25519 keys.
struct LargeConfig {
    let keys: Int
    var socketRoot = "/srv/portcullis"

    /// The public key line of key `index`: a well-formed ed25519 blob made from the index.
    func keyLine(_ index: Int) -> String {
        PublicKeyLine.ed25519(seed: index)
    }

    /// The YAML text, with `hostKey` as the host key.
    func yaml(hostKey: String) -> String {
        var text = """
            listen: ["127.0.0.1:2222"]
            host_keys: ["\(hostKey)"]
            socket_root: \(socketRoot)
            audit_log: "off"
            keys:

            """
        text.reserveCapacity(keys * 800)
        for i in 0..<keys {
            let r = socketRoot
            text += """
                  - name: key\(i)
                    key: "\(keyLine(i))"
                    permit_listen: ["localhost:\(8000 + i % 1000)", "127.0.0.1:\(9000 + i % 500)-\(9010 + i % 500)", "localhost:\(20000 + i % 40000)"]
                    permit_open: ["127.0.0.1:\(5900 + i % 100)", "10.\(i % 256).0.0/16:22", "host\(i).example:443", "localhost:\(3000 + i % 50)", "[::1]:\(4000 + i % 10)"]
                    permit_streamlocal_listen: ["\(r)/%k/*.sock", "\(r)/shared/key\(i)-*.sock", "\(r)/%k/sub/**", "\(r)/x\(i)/a.sock", "\(r)/y/%u-?.sock", "\(r)/z\(i)/**"]
                    permit_streamlocal_open: ["\(r)/key\((i + 1) % keys)/*.sock", "\(r)/shared/*.sock", "\(r)/a\(i)/b.sock", "\(r)/c/**", "\(r)/d\(i)/*/e.sock", "\(r)/f/g\(i).sock"]

                """
        }
        return text
    }

    /// A request key `index` may or may not be granted, chosen by `pick`, spread over the four kinds
    /// and over allowed, refused-late (after every rule) and refused-early answers.
    func request(key index: Int, pick: Int) -> ForwardRequest {
        let r = socketRoot
        switch pick % 8 {
        case 0: return .tcpListen(host: "localhost", port: 8000 + index % 1000)
        case 1: return .tcpListen(host: "0.0.0.0", port: 7)
        case 2: return .tcpOpen(host: "10.\(index % 256).3.4", port: 22)
        case 3: return .tcpOpen(host: "example.org", port: 80)
        case 4: return .streamLocalListen(path: "\(r)/key\(index)/sub/a/b.sock")
        case 5: return .streamLocalListen(path: "\(r)/other/x.sock")
        case 6: return .streamLocalOpen(path: "\(r)/key\((index + 1) % keys)/web.sock")
        default: return .streamLocalOpen(path: "\(r)/nowhere/z.sock")
        }
    }
}

/// OpenSSH public key lines for the generated keys.
enum PublicKeyLine {
    /// `ssh-ed25519 BASE64 kSEED`, whose 32 key bytes are derived from `seed`.
    static func ed25519(seed: Int) -> String {
        var blob: [UInt8] = []
        func string(_ bytes: [UInt8]) {
            let count = UInt32(bytes.count)
            blob += [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)]
            blob += bytes
        }
        string(Array("ssh-ed25519".utf8))
        string(SHA256.hash(Array("portcullis-bench-\(seed)".utf8)))
        return "ssh-ed25519 \(Data(blob).base64EncodedString()) k\(seed)"
    }
}
