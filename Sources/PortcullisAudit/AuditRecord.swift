/// Placeholder until the audit issue: the audit log's records, writer and reader live here.
public enum PortcullisAudit {}
