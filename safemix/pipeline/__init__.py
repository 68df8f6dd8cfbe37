"""`safemix run`: profile -> generate -> mix -> train -> eval -> report, content-addressed."""
