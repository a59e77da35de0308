"""The platform's audit log (R5), kept by identity: every service's ``AccessAudited`` events,
appended to one hash chain that the database refuses to change, and read back by auditors
through ``xinyu.audit.v1.AuditService``."""
