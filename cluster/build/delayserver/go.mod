module gameday.io/delayserver

go 1.22
