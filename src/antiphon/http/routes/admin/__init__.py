"""The Admin API (`/v1/organizations/…`): admin keys only, checked at the protocol edge."""
