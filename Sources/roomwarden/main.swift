import RoomWardenCLI

// Everything lives in RoomWardenCLI, where tests can parse command lines in
// process; this is the executable's whole body.
RoomWarden.main()
