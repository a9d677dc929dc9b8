// Package gmailtest is a Gmail API emulator for tests: an httptest server speaking the subset of the Gmail API,
// the Admin SDK Directory API and Google's OAuth2 token endpoint that the Gmail connector uses, with the rules
// of /work/shared/reference/target-apis.md §1 and §5.1 (the full rule list is being written).
package gmailtest
