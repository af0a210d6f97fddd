import ArgumentParser
import Foundation
import PortcullisPolicy

struct RemoveKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-key",
        abstract: "Remove a key: its file from keys_dir (cluster mode: its entry in etcd).",
        discussion: """
            In cluster mode the entry is deleted with a compare-and-swap; other entries in etcd \
            that do not load are named on standard error but are no reason to refuse, and an entry \
            that does not load itself can be removed too.

            Only keys defined in keys_dir files can be removed; a key written in the main config is \
            refused, naming where it is defined (edit that file by hand). Live sessions of the key \
            end when the daemon reloads.

            Example:
              policyctl remove-key alex && policyctl reload

            Exit status: 0 removed; 1 refused (unknown key, defined in the main config); 2 usage \
            error or unusable config.
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: "The key's name.") var name: String

    func run() throws {
        let (path, hint) = try KeysDirectory.locked(options) { (config, directory) throws(Failure) -> (String, String) in
            guard let entry = Policy(config: config).entry(named: name) else {
                // Cluster mode: an entry that does not load can be removed all the same.
                if let cluster = directory.cluster, cluster.documents[name] != nil {
                    try directory.apply(PendingChanges(removedKeyFiles: [name]))
                    return (directory.file(name), directory.applyHint)
                }
                throw Failure.refused("no key named \"\(name)\"")
            }
            let file = entry.location.file
            guard file.hasPrefix(directory.file("")), !file.dropFirst(directory.file("").count).contains("/") else {
                throw Failure.refused("key \"\(name)\" is defined in the main config at \(entry.location); policyctl does not edit that file, remove it there by hand")
            }
            guard config.keys.filter({ $0.location.file == file }).count == 1 else {
                throw Failure.refused("\(file) defines more than one key; edit it by hand")
            }
            try directory.apply(PendingChanges(removedKeyFiles: [String(file.dropFirst(directory.file("").count))]))
            return (file, directory.applyHint)
        }
        print("removed key \(name) (\(path)); \(hint)")
    }
}
