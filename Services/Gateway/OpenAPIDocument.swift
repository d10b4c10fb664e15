/// The OpenAPI 3.1 document of the whole HTTP API, served at `GET /openapi.json` (and as YAML at `/openapi.yaml`). Kept beside the
/// routes it describes; `OpenAPIDocumentTests` checks that the two list the same operations, and
/// `make test` validates it with openapi-spec-validator.
enum OpenAPIDocument {
    /// The same document in YAML, keys in the same order (CONTRACT §3: `/openapi.json` or `/openapi.yaml`).
    static let yaml = YAMLRendering.render(json: json)

    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Concert ticketing API",
    "version": "1.0.0",
    "description": "The public HTTP API of CONTRACT.md §3: a waiting room, seat holds, a wallet and payments. Errors are application/problem+json with a stable `code`. Checks run in this order: authentication (401); a replayed Idempotency-Key (the stored answer); the queue token on gated endpoints (403); the request's form (400, 413); existence and ownership (404); business rules (402, 409, 422)."
  },
  "servers": [
    {
      "url": "http://127.0.0.1:8080"
    }
  ],
  "paths": {
    "/api/v1/users": {
      "post": {
        "operationId": "signUp",
        "summary": "Sign up: answers the API key, once",
        "responses": {
          "201": {
            "description": "Created",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/NewUser"
                }
              }
            }
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          }
        },
        "security": [],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/SignUp"
              },
              "example": {
                "name": "김민지"
              }
            }
          }
        }
      }
    },
    "/api/v1/users/me": {
      "get": {
        "operationId": "me",
        "summary": "Who the API key belongs to",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/User"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ]
      }
    },
    "/api/v1/queue/tokens": {
      "post": {
        "operationId": "joinQueue",
        "summary": "Take a place in the waiting room, or get back the live one",
        "responses": {
          "201": {
            "description": "A new token",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Token"
                }
              }
            }
          },
          "200": {
            "description": "The caller's live token",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Token"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ]
      }
    },
    "/api/v1/queue/tokens/current": {
      "get": {
        "operationId": "queueStatus",
        "summary": "Where the caller's token stands",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Token"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "security": [
          {
            "apiKey": [],
            "queueToken": []
          }
        ]
      },
      "delete": {
        "operationId": "leaveQueue",
        "summary": "Leave the line: the token expires at once and its place goes to the next",
        "responses": {
          "204": {
            "description": "Left"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "security": [
          {
            "apiKey": [],
            "queueToken": []
          }
        ]
      }
    },
    "/api/v1/concerts": {
      "get": {
        "operationId": "concerts",
        "summary": "Every concert",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/Concert"
                  }
                }
              }
            }
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": []
      }
    },
    "/api/v1/concerts/{concertId}/schedules": {
      "get": {
        "operationId": "schedules",
        "summary": "The concert's dates open for reservation now that still have seats",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/Schedule"
                  }
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        },
        "security": [
          {
            "apiKey": [],
            "queueToken": []
          }
        ],
        "parameters": [
          {
            "name": "concertId",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9007199254740991
            }
          }
        ]
      }
    },
    "/api/v1/schedules/{scheduleId}/seats": {
      "get": {
        "operationId": "seats",
        "summary": "The seats of a date, by number; ETag, and 304 for If-None-Match",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SeatList"
                }
              }
            },
            "headers": {
              "ETag": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "304": {
            "description": "Not modified",
            "headers": {
              "ETag": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        },
        "security": [
          {
            "apiKey": [],
            "queueToken": []
          }
        ],
        "parameters": [
          {
            "name": "scheduleId",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9007199254740991
            }
          },
          {
            "name": "If-None-Match",
            "in": "header",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ]
      }
    },
    "/api/v1/reservations": {
      "post": {
        "operationId": "reserve",
        "summary": "Hold a seat for HOLD_SECONDS",
        "responses": {
          "201": {
            "description": "Held",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Reservation"
                }
              }
            }
          },
          "200": {
            "description": "The caller already holds this seat",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Reservation"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          }
        },
        "security": [
          {
            "apiKey": [],
            "queueToken": []
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewReservation"
              },
              "example": {
                "seatId": 7
              }
            }
          }
        }
      },
      "get": {
        "operationId": "reservations",
        "summary": "The caller's reservations, newest first",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/Reservation"
                  }
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ]
      }
    },
    "/api/v1/reservations/{reservationId}": {
      "get": {
        "operationId": "reservation",
        "summary": "One of the caller's reservations",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Reservation"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ],
        "parameters": [
          {
            "name": "reservationId",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9007199254740991
            }
          }
        ]
      },
      "delete": {
        "operationId": "cancel",
        "summary": "Cancel: the seat is released; a paid one is refunded while its window is open",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Reservation"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ],
        "parameters": [
          {
            "name": "reservationId",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9007199254740991
            }
          }
        ]
      }
    },
    "/api/v1/reservations/{reservationId}/payment": {
      "post": {
        "operationId": "pay",
        "summary": "Pay for a held reservation (no queue token needed)",
        "responses": {
          "201": {
            "description": "Paid",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Payment"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "402": {
            "description": "insufficient_balance: nothing charged, the hold is kept",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "422": {
            "$ref": "#/components/responses/Reused"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ],
        "parameters": [
          {
            "name": "reservationId",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9007199254740991
            }
          },
          {
            "$ref": "#/components/parameters/IdempotencyKey"
          }
        ]
      }
    },
    "/api/v1/wallet": {
      "get": {
        "operationId": "balance",
        "summary": "The caller's balance",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Balance"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ]
      }
    },
    "/api/v1/wallet/charges": {
      "post": {
        "operationId": "charge",
        "summary": "Top up the wallet",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Balance"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "422": {
            "$ref": "#/components/responses/Reused"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ],
        "parameters": [
          {
            "$ref": "#/components/parameters/IdempotencyKey"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewCharge"
              },
              "example": {
                "amount": 200000
              }
            }
          }
        }
      }
    },
    "/api/v1/wallet/transactions": {
      "get": {
        "operationId": "ledger",
        "summary": "The caller's ledger, newest first",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/LedgerEntry"
                  }
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": [
          {
            "apiKey": []
          }
        ]
      }
    },
    "/api/v1/admin/concerts": {
      "post": {
        "operationId": "createConcert",
        "summary": "Create a concert with its dates and seats (only when ADMIN_TOKEN is set; else 404)",
        "responses": {
          "201": {
            "description": "Created",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConcertDetail"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        },
        "security": [
          {
            "admin": []
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewConcert"
              },
              "example": {
                "title": "서울 재즈 나이트 · Seoul Jazz Night",
                "description": "An evening of jazz by the Han River.",
                "schedules": [
                  {
                    "startsAt": "2030-12-25T19:00:00Z",
                    "reservationStartAt": "2030-11-25T10:00:00Z",
                    "reservationEndAt": "2030-12-24T19:00:00Z",
                    "seatCount": 50,
                    "price": 150000
                  }
                ]
              }
            }
          }
        }
      }
    },
    "/healthz": {
      "get": {
        "operationId": "health",
        "summary": "The gateway runs",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": []
      }
    },
    "/readyz": {
      "get": {
        "operationId": "ready",
        "summary": "Every service answered a ping within a second",
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Ready"
                }
              }
            }
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        },
        "security": []
      }
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "summary": "Prometheus text",
        "security": [],
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        }
      }
    },
    "/openapi.yaml": {
      "get": {
        "operationId": "openapiYAML",
        "summary": "This document, in YAML",
        "security": [],
        "responses": {
          "200": {
            "description": "OK",
            "content": {
              "application/yaml": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        }
      }
    }
  },
  "components": {
    "schemas": {
      "Problem": {
        "type": "object",
        "properties": {
          "type": {
            "type": "string"
          },
          "title": {
            "type": "string"
          },
          "status": {
            "type": "integer"
          },
          "detail": {
            "type": "string"
          },
          "code": {
            "type": "string"
          }
        },
        "required": [
          "type",
          "title",
          "status",
          "detail",
          "code"
        ]
      },
      "NewUser": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "name": {
            "type": "string"
          },
          "apiKey": {
            "type": "string",
            "description": "shown only once; send it as Authorization: Bearer <apiKey>"
          }
        },
        "required": [
          "id",
          "name",
          "apiKey"
        ]
      },
      "User": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "name": {
            "type": "string"
          }
        },
        "required": [
          "id",
          "name"
        ]
      },
      "SignUp": {
        "type": "object",
        "properties": {
          "name": {
            "type": "string",
            "minLength": 1,
            "description": "1–50 characters after trimming whitespace, none a control character"
          }
        },
        "required": [
          "name"
        ]
      },
      "Token": {
        "type": "object",
        "properties": {
          "token": {
            "type": "string"
          },
          "status": {
            "type": "string",
            "enum": [
              "waiting",
              "active",
              "expired"
            ]
          },
          "position": {
            "type": "integer",
            "minimum": 0
          },
          "estimatedWaitSeconds": {
            "type": "integer",
            "minimum": 0
          },
          "expiresAt": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          },
          "pollAfterMs": {
            "type": "integer",
            "minimum": 0,
            "description": "how long to wait before asking again"
          }
        },
        "required": [
          "token",
          "status",
          "position",
          "estimatedWaitSeconds",
          "expiresAt",
          "pollAfterMs"
        ]
      },
      "Concert": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "title": {
            "type": "string"
          },
          "description": {
            "type": "string"
          }
        },
        "required": [
          "id",
          "title",
          "description"
        ]
      },
      "Schedule": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "concertId": {
            "type": "integer",
            "format": "int64"
          },
          "startsAt": {
            "type": "string",
            "format": "date-time"
          },
          "reservationStartAt": {
            "type": "string",
            "format": "date-time"
          },
          "reservationEndAt": {
            "type": "string",
            "format": "date-time"
          },
          "remainingSeats": {
            "type": "integer",
            "minimum": 0
          }
        },
        "required": [
          "id",
          "concertId",
          "startsAt",
          "reservationStartAt",
          "reservationEndAt",
          "remainingSeats"
        ]
      },
      "Seat": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "number": {
            "type": "integer"
          },
          "price": {
            "type": "integer",
            "description": "won"
          },
          "status": {
            "type": "string",
            "enum": [
              "available",
              "reserving",
              "sold"
            ]
          }
        },
        "required": [
          "id",
          "number",
          "price",
          "status"
        ]
      },
      "SeatList": {
        "type": "object",
        "properties": {
          "scheduleId": {
            "type": "integer",
            "format": "int64"
          },
          "seats": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Seat"
            }
          }
        },
        "required": [
          "scheduleId",
          "seats"
        ]
      },
      "NewReservation": {
        "type": "object",
        "properties": {
          "seatId": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9007199254740991
          }
        },
        "required": [
          "seatId"
        ]
      },
      "Reservation": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "userId": {
            "type": "integer",
            "format": "int64"
          },
          "seatId": {
            "type": "integer",
            "format": "int64"
          },
          "scheduleId": {
            "type": "integer",
            "format": "int64"
          },
          "concertId": {
            "type": "integer",
            "format": "int64"
          },
          "seatNumber": {
            "type": "integer"
          },
          "price": {
            "type": "integer",
            "format": "int64"
          },
          "status": {
            "type": "string",
            "enum": [
              "reserving",
              "reserved",
              "canceled"
            ]
          },
          "expiresAt": {
            "type": "string",
            "format": "date-time"
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          },
          "cancelReason": {
            "type": [
              "string",
              "null"
            ],
            "enum": [
              "canceled_by_user",
              "hold_lapsed",
              "payment_failed",
              null
            ]
          }
        },
        "required": [
          "id",
          "userId",
          "seatId",
          "scheduleId",
          "concertId",
          "seatNumber",
          "price",
          "status",
          "expiresAt",
          "createdAt",
          "cancelReason"
        ]
      },
      "Payment": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "reservationId": {
            "type": "integer",
            "format": "int64"
          },
          "amount": {
            "type": "integer",
            "format": "int64"
          },
          "balance": {
            "type": "integer",
            "format": "int64"
          },
          "paidAt": {
            "type": "string",
            "format": "date-time"
          }
        },
        "required": [
          "id",
          "reservationId",
          "amount",
          "balance",
          "paidAt"
        ]
      },
      "Balance": {
        "type": "object",
        "properties": {
          "balance": {
            "type": "integer",
            "format": "int64"
          }
        },
        "required": [
          "balance"
        ]
      },
      "NewCharge": {
        "type": "object",
        "properties": {
          "amount": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000000,
            "description": "won; a fraction or anything out of range is 400 invalid_amount"
          }
        },
        "required": [
          "amount"
        ]
      },
      "LedgerEntry": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "kind": {
            "type": "string",
            "enum": [
              "charge",
              "payment",
              "refund"
            ]
          },
          "amount": {
            "type": "integer",
            "format": "int64"
          },
          "balanceAfter": {
            "type": "integer",
            "format": "int64"
          },
          "reservationId": {
            "type": [
              "integer",
              "null"
            ],
            "format": "int64"
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          }
        },
        "required": [
          "id",
          "kind",
          "amount",
          "balanceAfter",
          "reservationId",
          "createdAt"
        ]
      },
      "NewSchedule": {
        "type": "object",
        "description": "every date in the years 2000–2999, and reservationStartAt before reservationEndAt; else 400 invalid_request",
        "properties": {
          "startsAt": {
            "type": "string",
            "format": "date-time"
          },
          "reservationStartAt": {
            "type": "string",
            "format": "date-time"
          },
          "reservationEndAt": {
            "type": "string",
            "format": "date-time"
          },
          "seatCount": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 1,
            "maximum": 1000,
            "default": 50,
            "description": "null or left out is the default"
          },
          "price": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000000
          }
        },
        "required": [
          "startsAt",
          "reservationStartAt",
          "reservationEndAt",
          "price"
        ]
      },
      "NewConcert": {
        "type": "object",
        "properties": {
          "title": {
            "type": "string",
            "minLength": 1,
            "description": "1–200 characters after trimming whitespace"
          },
          "description": {
            "type": [
              "string",
              "null"
            ],
            "description": "at most 5000 characters after trimming whitespace; null or left out is none"
          },
          "schedules": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
              "$ref": "#/components/schemas/NewSchedule"
            }
          }
        },
        "required": [
          "title",
          "schedules"
        ]
      },
      "ConcertDetail": {
        "type": "object",
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64"
          },
          "title": {
            "type": "string"
          },
          "description": {
            "type": "string"
          },
          "schedules": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Schedule"
            }
          }
        },
        "required": [
          "id",
          "title",
          "description",
          "schedules"
        ]
      },
      "Health": {
        "type": "object",
        "properties": {
          "status": {
            "type": "string"
          }
        },
        "required": [
          "status"
        ]
      },
      "Ready": {
        "type": "object",
        "properties": {
          "status": {
            "type": "string"
          },
          "services": {
            "type": "object",
            "additionalProperties": {
              "type": "string"
            }
          }
        },
        "required": [
          "status",
          "services"
        ]
      }
    },
    "responses": {
      "BadRequest": {
        "description": "invalid_request (malformed or ill-typed body or parameter), invalid_amount, idempotency_key_required",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "unauthorized: missing or unknown API key",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Forbidden": {
        "description": "queue_token_required, queue_token_inactive",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "NotFound": {
        "description": "not_found (another user's object is not found too)",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Conflict": {
        "description": "a business rule: see the code",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "TooLarge": {
        "description": "payload_too_large: over 64 KiB",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Reused": {
        "description": "idempotency_key_reused: the same key with different content",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Unavailable": {
        "description": "service_unavailable: a service is down or too slow; for a payment, the outcome is unknown until asked again with the same key",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      }
    },
    "parameters": {
      "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": true,
        "description": "1–255 characters, scoped to the caller and the endpoint, kept at least 24 hours; only 2xx answers are stored",
        "schema": {
          "type": "string",
          "minLength": 1,
          "maxLength": 255
        }
      }
    },
    "securitySchemes": {
      "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "the apiKey from sign-up"
      },
      "queueToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Queue-Token",
        "description": "the caller's active waiting-room token"
      },
      "admin": {
        "type": "http",
        "scheme": "bearer",
        "description": "ADMIN_TOKEN"
      }
    }
  }
}
"""#
}
