import CLibSSH

/// The libssh the server runs on: the project's static, patched build (Deploy/libssh).
public enum LibSSH {
    /// What the linked library was built from, e.g.
    /// `libssh 0.10.6-0+deb12u2 + portcullis patches 105c05f4428c`.
    public static var build: String { String(cString: portcullis_libssh_build()) }

    /// The library's own version string.
    public static var version: String { String(cString: portcullis_libssh_version()) }

    /// Initialises the library once per process; every entry point that uses libssh calls this.
    static func initialize() {
        _ = initialized
    }

    private static let initialized: Void = {
        ssh_init()
    }()
}
