"""Students' Keycloak accounts: the school group tree, bulk provisioning and first sign-in by
activation code (docs/decisions/0013-student-accounts.md)."""
