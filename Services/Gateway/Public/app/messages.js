// Every problem the API can answer, said in plain words. A view passes what it knows (the seat's
// number, how many won are missing) so the sentence can name it.
import { won } from './format.js';

/**
 * The sentence for an ApiError. `context`: { seatNumber, shortBy, action } where action is what
 * the person was doing ("hold", "pay", "top-up", "cancel", "sign-up", "load").
 */
export function describe(error, context = {}) {
  const seat = context.seatNumber ? `Seat ${context.seatNumber}` : 'That seat';
  switch (error.code) {
    case 'seat_unavailable': return `${seat} was just taken by someone else. Please choose another seat.`;
    case 'hold_limit': return 'You are already holding as many seats as one person may. Pay for or give up one of them first.';
    case 'schedule_closed': return 'Booking for this date has closed.';
    case 'insufficient_balance':
      return context.shortBy > 0
        ? `Your balance is ${won(context.shortBy)} short. Top up your wallet, then pay again.`
        : 'Your balance is too low for this seat. Top up your wallet, then pay again.';
    case 'reservation_expired': return `Your hold on ${context.seatNumber ? `seat ${context.seatNumber}` : 'this seat'} has lapsed, so it went back on sale. You were not charged.`;
    case 'reservation_not_payable': return 'This reservation can no longer be paid: it was given up or has already been paid.';
    case 'reservation_not_cancelable': return 'This reservation cannot be canceled now: a payment is going through, or booking for this date has closed.';
    case 'request_in_progress': return 'Your payment is still going through. Wait a moment, then press Pay again to see how it went.';
    case 'idempotency_key_reused': return 'This request was already made with different details. Please try again.';
    case 'invalid_amount': return 'Enter a whole number of won, from 1 to 10,000,000.';
    case 'queue_token_required': return 'Please wait your turn in the waiting room first: it lets people in a few at a time.';
    case 'queue_token_inactive': return 'Your turn in the waiting room is over. Please join the line again.';
    case 'unauthorized': return 'This browser is no longer signed in. Please sign up or sign in again.';
    case 'not_found': return context.action === 'load' ? 'We could not find that page.' : 'We could not find that. It may have been removed.';
    case 'service_unavailable':
      return context.action === 'pay'
        ? 'The box office is busy, so we do not know yet whether you paid. Press Pay again to find out: you will never be charged twice.'
        : 'The box office is busy right now. Please try again in a moment.';
    case 'network':
      return context.action === 'pay'
        ? 'We could not reach the box office, so we do not know yet whether you paid. Press Pay again to find out: you will never be charged twice.'
        : 'We could not reach the box office. Check your connection and try again.';
    case 'invalid_request': return context.action === 'sign-up' ? 'Enter a name of 1 to 50 characters.' : 'Something in that request was not right. Please check it and try again.';
    case 'payload_too_large': return 'That is too much to send at once.';
    default: return 'Something went wrong. Please try again.';
  }
}
