@testable import PortcullisPolicy
import Testing

/// The admission fields of `limits`: OpenSSH's forms, defaults, and every bad value refused with
/// its file:line.
@Suite struct AdmissionLimitsConfigTests {
    func limits(_ yaml: String) throws -> Limits {
        let fixture = try Fixture(header + yaml)
        defer { fixture.directory.remove() }
        return try fixture.load().limits
    }

    @Test func defaultsAreOpenSSHsWithAPerSourceLimitBelowStart() throws {
        let defaults = try limits("")
        #expect(defaults.maxStartups == MaxStartups(start: 10, rate: 30, full: 100))
        #expect(defaults.perSourceMaxStartups == 5)
        #expect(defaults.perSourceNetBlockSize == NetBlockSize(ipv4: 32, ipv6: 128))
        #expect(defaults.perSourcePenalties == PenaltySettings(authFail: 5, noAuth: 1, graceExceeded: 20, max: 600, min: 15,
                                                               maxSources4: 65536, maxSources6: 65536))
        #expect(defaults.perSourcePenaltyExemptList.isEmpty)
        #expect(defaults.perSourceMaxStartups! < defaults.maxStartups.start)
    }

    @Test func everyFieldInItsOpenSSHForm() throws {
        let read = try limits("""
        limits:
          max_startups: 20:50:200
          per_source_max_startups: 3
          per_source_net_block_size: 24:64
          per_source_penalties: "authfail:30s noauth:0 grace-exceeded:1m max:1h min:10s max-sources4:100 overflow:deny-all"
          per_source_penalty_exempt_list: [192.0.2.0/24, "2001:db8::1"]
        """)
        #expect(read.maxStartups == MaxStartups(start: 20, rate: 50, full: 200))
        #expect(read.perSourceMaxStartups == 3)
        #expect(read.perSourceNetBlockSize == NetBlockSize(ipv4: 24, ipv6: 64))
        #expect(read.perSourcePenalties == PenaltySettings(authFail: 30, noAuth: 0, graceExceeded: 60, max: 3600, min: 10,
                                                           maxSources4: 100, overflow: .denyAll))
        #expect(read.perSourcePenaltyExemptList.map(\.description) == ["192.0.2.0/24", "2001:db8::1/128"])
        // Unchanged neighbours keep their defaults.
        #expect(read.loginGraceTime == 30 && read.maxAuthTries == 6)
    }

    @Test func singleNumbersNoneOffAndAMapping() throws {
        let read = try limits("""
        limits:
          max_startups: 50
          per_source_max_startups: none
          per_source_net_block_size: 16
          per_source_penalties: {authfail: 2s, min: 3s, max: 4s}
        """)
        #expect(read.maxStartups == MaxStartups(start: 50, rate: 100, full: 50))
        #expect(read.perSourceMaxStartups == nil)
        #expect(read.perSourceNetBlockSize == NetBlockSize(ipv4: 16, ipv6: 128))
        #expect(read.perSourcePenalties == PenaltySettings(authFail: 2, max: 4, min: 3))
        for off in ["no", "off", "false", "\"no\""] {
            #expect(try limits("limits: {per_source_penalties: \(off)}\n").perSourcePenalties == nil, "\(off)")
        }
        #expect(try limits("limits: {per_source_penalties: yes}\n").perSourcePenalties == PenaltySettings())
    }

    @Test func badValuesAreRefusedWithFileAndLine() throws {
        let fixture = try Fixture(header + """
        limits:
          max_startups: 10:30
          per_source_max_startups: 0
          per_source_net_block_size: 33:128
          per_source_penalties: "authfail:5 crash:90s"
          per_source_penalty_exempt_list: [10.0.0.1/8, nonsense]
        """)
        #expect(fixture.problems() == [
            "$DIR/portcullis.yaml:5: limits.max_startups \"10:30\": expected start:rate:full (like 10:30:100) or a single number",
            "$DIR/portcullis.yaml:6: limits.per_source_max_startups \"0\": expected a positive whole number or \"none\"",
            "$DIR/portcullis.yaml:7: limits.per_source_net_block_size \"33:128\": \"33\" is not a prefix length 0-32; expected IPV4BITS:IPV6BITS, like 32:128",
            "$DIR/portcullis.yaml:8: limits.per_source_penalties: unknown penalty \"crash\"; expected one of authfail, noauth, grace-exceeded, max, min, max-sources4, max-sources6, overflow, overflow6",
            "$DIR/portcullis.yaml:9: limits.per_source_penalty_exempt_list[0] \"10.0.0.1/8\": expected an address or CIDR block: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
            "$DIR/portcullis.yaml:9: limits.per_source_penalty_exempt_list[1] \"nonsense\": expected an address or CIDR block: nonsense is not an IP address",
        ])
    }

    @Test func maxStartupsChecksItsNumbers() throws {
        for (text, problem) in [
            ("0", "\"0\" is not a positive whole number; expected start:rate:full (like 10:30:100) or a single number"),
            ("10:101:100", "rate 101 is over 100 (percent)"),
            ("100:30:10", "start 100 is greater than full 10"),
            ("10:-1:100", "\"-1\" is not a positive whole number; expected start:rate:full (like 10:30:100) or a single number"),
            ("a:b:c", "\"a\" is not a positive whole number; expected start:rate:full (like 10:30:100) or a single number"),
        ] {
            #expect(try Fixture(header + "limits: {max_startups: \"\(text)\"}\n").problems()
                    == ["$DIR/portcullis.yaml:4: limits.max_startups \"\(text)\": \(problem)"], "\(text)")
        }
    }

    @Test func penaltyKeywordsAreChecked() throws {
        for (text, problem) in [
            ("authfail", "\"authfail\" is not keyword:value; expected no, yes, or keywords like \"authfail:5s noauth:1s max:10m\""),
            ("authfail:soon", "authfail:soon: expected a duration like 5s, 2m, 1h, or 0"),
            ("max-sources6:0", "max-sources6:0: expected a positive whole number"),
            ("overflow:drop", "overflow:drop: expected permissive or deny-all"),
            ("authfial:5s", "unknown penalty \"authfial\" (did you mean authfail?); expected one of authfail, noauth, grace-exceeded, max, min, max-sources4, max-sources6, overflow, overflow6"),
            ("min:1m max:30s", "max (30s) is less than min (60s): no penalty would ever be enforced"),
            ("min:1s min:2s", "min given twice"),
        ] {
            let problems = try Fixture(header + "limits: {per_source_penalties: \"\(text)\"}\n").problems()
            #expect(problems.count == 1 && problems.first?.hasSuffix(problem) == true && problems.first?.contains(":4: ") == true,
                    "\(text): \(problems)")
        }
        #expect(try Fixture(header + "limits:\n  per_source_penalties:\n    authfail: [5s]\n").problems()
                == ["$DIR/portcullis.yaml:6: limits.per_source_penalties: expected keyword: value pairs, like authfail: 5s"])
        #expect(try Fixture(header + "limits: {max_startup: 10}\n").problems()
                == ["$DIR/portcullis.yaml:4: unknown limits field \"max_startup\" (did you mean max_startups?)"])
    }
}
