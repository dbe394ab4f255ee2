// Package e2e holds linkmesh's end-to-end tests: a whole mesh in one process on
// loopback, and (as root) real linkmesh processes in network namespaces with faults
// injected between them (tests named TestLab...). It has no non-test code.
package e2e
