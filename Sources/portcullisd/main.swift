import PortcullisServer

// Placeholder until the daemon issue: reports the libssh build it runs on.
print("portcullisd (placeholder): \(LibSSH.build)")
