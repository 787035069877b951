"""The orders app's errors; the API answers with each one's `status`."""


class OrderError(Exception):
    status = 400

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidOrder(OrderError):
    status = 400


class ProductNotFound(OrderError):
    status = 404


class OutOfStock(OrderError):
    status = 409


class NotAFlashProduct(OrderError):
    status = 404


class FlashLimitReached(OrderError):
    status = 409


class FlashSoldOut(OrderError):
    status = 410


class FlashEnded(OrderError):
    status = 410


class FlashNotStarted(OrderError):
    status = 425


class FlashUnconfirmed(OrderError):
    status = 503


class FlashReloading(OrderError):
    status = 503
