package healthclient

// The checks, for tests of what passes them.
var (
	CheckDisable     = checkDisable
	CheckMaintain    = checkMaintain
	CheckNodeRequest = checkNodeRequest
	CheckRecover     = checkRecover
)
